/**
 * What the oracle needs from the CapacityRegistry about one (task type, sink): registered or not,
 * the last nonce the chain applied, when it last moved (the rate limit). Cached for `ttlMs`;
 * concurrent lookups of one key share one call; when the chain cannot be reached an older entry
 * is used, and a key never seen makes the lookup fail.
 */
import type { Address, Hex } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { CapacityRegistry } from '../../chain/bpe/artifacts.generated.ts';
import { keyOf } from './attestation.ts';

export interface SinkInfo {
  registered: boolean;
  /** Last nonce the registry applied (0: none). */
  nonce: number;
  /** Unix seconds of the sink's last EWMA step (0: never). */
  lastUpdate: number;
}

export class RegistryView {
  private readonly cache = new Map<string, { info: SinkInfo; at: number }>();
  private readonly inFlight = new Map<string, Promise<SinkInfo>>();

  constructor(private readonly ctx: BpeContext, private readonly ttlMs: number) {}

  async get(taskTypeId: Hex, sink: Address): Promise<SinkInfo> {
    const key = keyOf(taskTypeId, sink);
    const hit = this.cache.get(key);
    if (hit && performance.now() - hit.at < this.ttlMs) return hit.info;
    const running = this.inFlight.get(key);
    if (running) return running;
    const lookup = this.read(taskTypeId, sink)
      .then((info) => {
        this.cache.set(key, { info, at: performance.now() });
        return info;
      })
      .catch((err) => {
        if (hit) return hit.info;
        throw err;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, lookup);
    return lookup;
  }

  /** What this oracle saw its own relay do (saves a lookup). */
  applied(taskTypeId: Hex, sink: Address, nonce: number, at: number): void {
    const key = keyOf(taskTypeId, sink);
    const hit = this.cache.get(key);
    if (hit) hit.info = { ...hit.info, nonce: Math.max(hit.info.nonce, nonce), lastUpdate: Math.max(hit.info.lastUpdate, at) };
  }

  forget(taskTypeId: Hex, sink: Address): void {
    this.cache.delete(keyOf(taskTypeId, sink));
  }

  private async read(taskTypeId: Hex, sink: Address): Promise<SinkInfo> {
    const s = await this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [taskTypeId, sink],
    });
    return { registered: s.index !== 0, nonce: s.nonce, lastUpdate: s.lastUpdate };
  }
}
