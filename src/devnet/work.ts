/**
 * The real work the devnet's sinks do: CPU-bound jobs whose cost is set in rounds, so sinks of
 * different speeds genuinely complete different numbers of tasks per second.
 */
import { createHash } from 'node:crypto';

export type WorkKind = 'hash' | 'transform';

/** Iterated SHA-256 of the payload, `rounds` times. */
export function hashWork(payload: string, rounds: number): string {
  let digest: Uint8Array = new TextEncoder().encode(payload);
  for (let i = 0; i < rounds; i++) digest = new Uint8Array(createHash('sha256').update(digest).digest());
  return Buffer.from(digest).toString('hex');
}

/** A text transform (reverse, rotate, upper-case) repeated `rounds` times over the payload. */
export function transformWork(payload: string, rounds: number): string {
  let text = payload;
  for (let i = 0; i < rounds; i++) {
    text = [...text].reverse().join('');
    text = text.slice(1) + text.slice(0, 1);
    text = i % 2 === 0 ? text.toUpperCase() : text.toLowerCase();
  }
  return text;
}

/**
 * A worker that does `rounds` rounds of `kind` work and then yields, so many simulated agents
 * share one Node process without starving each other. `delayMs` models time spent waiting on
 * something (a model, an API) on top of the CPU work.
 */
export function makeWorker(kind: WorkKind, rounds: number, delayMs: number): (payload: string) => Promise<string> {
  const work = kind === 'hash' ? hashWork : transformWork;
  return async (payload) => {
    const out = work(payload, rounds);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return out;
  };
}
