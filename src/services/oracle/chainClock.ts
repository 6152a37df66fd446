/**
 * The oracle's idea of the chain's `block.timestamp`, which decides freshness on chain: the latest
 * block's timestamp plus the time elapsed since it was read, never behind this machine's clock
 * (an idle dev chain mines no blocks, so its latest block can be old). Re-read every `pollMs`.
 */
import type { ChainClients } from '../../chain/clients.ts';
import type { Logger } from '../common/log.ts';

export class ChainClock {
  private blockTimestamp = 0;
  private readAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Whether the last read of the chain succeeded. */
  reachable = false;
  lastError: string | undefined;

  constructor(private readonly clients: Pick<ChainClients, 'publicClient'>, private readonly log: Logger) {}

  /** Reads the latest block; throws only on the first read (the service cannot start blind). */
  async sync(): Promise<void> {
    try {
      const block = await this.clients.publicClient.getBlock({ blockTag: 'latest' });
      this.blockTimestamp = Number(block.timestamp);
      this.readAt = performance.now();
      this.reachable = true;
      this.lastError = undefined;
    } catch (err) {
      if (this.reachable) this.log.warn({ err: (err as Error).message }, 'chain unreachable');
      this.reachable = false;
      this.lastError = (err as Error).message.split('\n')[0];
      if (this.readAt === 0) throw err;
    }
  }

  start(pollMs: number): void {
    this.timer = setInterval(() => void this.sync(), pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Seconds (fractional). */
  now(): number {
    return Math.max(Date.now() / 1000, this.blockTimestamp + (performance.now() - this.readAt) / 1000);
  }
}
