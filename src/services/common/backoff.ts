/** Exponential backoff with full jitter for calls that fail while an RPC node or peer is down. */

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export class Backoff {
  private failures = 0;
  constructor(private readonly opts: BackoffOptions = {}) {}

  /** Milliseconds to wait after one more failure. */
  next(): number {
    const initial = this.opts.initialMs ?? 200;
    const max = this.opts.maxMs ?? 10_000;
    this.failures += 1;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.failures - 1, 20));
    return Math.max(initial / 2, Math.random() * ceiling);
  }

  reset(): void {
    this.failures = 0;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
