/**
 * Signature checks off the event loop: a pool of worker threads, each checking the items routed
 * to it (a sink always goes to the same worker). With `threads: 0` the checks run inline on the
 * main thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { signatureError, type SignedFields } from './signature.ts';

export interface VerifierPool {
  /** One entry per item: `undefined` when the signature is valid and by the sink, else the reason. */
  check(items: SignedFields[]): Promise<(string | undefined)[]>;
  readonly threads: number;
  close(): Promise<void>;
}

export const defaultVerifyThreads = (): number => Math.max(1, Math.min(availableParallelism(), 8));

/** A worker running verifyWorker next to this file: compiled, the .js module itself; from the
 * TypeScript sources (tsx), a bootstrap that registers tsx in the thread first (loader hooks
 * registered on the main thread do not reach workers on Node 20). */
function spawnWorker(domainSeparator: Uint8Array): Worker {
  const workerData = { domainSeparator };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./verifyWorker.js', import.meta.url), { workerData });
  const url = new URL('./verifyWorker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

function shardOf(sink: string, n: number): number {
  // The address is already uniformly random: its last 6 hex digits pick the worker.
  return parseInt(sink.slice(-6), 16) % n;
}

export function createVerifierPool(domainSeparator: Uint8Array, threads: number, onFailure: (err: Error) => void = () => {}): VerifierPool {
  if (threads <= 0) {
    return {
      threads: 0,
      check: async (items) => items.map((item) => signatureError(domainSeparator, item)),
      close: async () => {},
    };
  }
  const workers = Array.from({ length: threads }, () => spawnWorker(domainSeparator));
  const inline = (items: SignedFields[]) => items.map((item) => signatureError(domainSeparator, item));
  const waiting = new Map<number, { resolve: (errors: (string | null)[]) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;
  for (const w of workers) {
    w.on('message', (msg: { id: number; errors: (string | null)[] }) => {
      const entry = waiting.get(msg.id);
      waiting.delete(msg.id);
      entry?.resolve(msg.errors);
    });
    w.on('error', (err) => {
      failure = err;
      onFailure(err);
      for (const entry of waiting.values()) entry.reject(err);
      waiting.clear();
    });
    w.unref();
  }
  const send = (w: Worker, items: SignedFields[]) =>
    new Promise<(string | null)[]>((resolve, reject) => {
      if (failure) return reject(failure);
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      w.postMessage({ id, items });
    });
  return {
    threads,
    async check(items) {
      // A dead worker pool must not take the service down: check on the main thread instead.
      if (failure) return inline(items);
      const shards: { index: number[]; items: SignedFields[] }[] = workers.map(() => ({ index: [], items: [] }));
      items.forEach((item, i) => {
        const shard = shards[shardOf(item.sink, threads)];
        shard.index.push(i);
        // Plain fields only: the structured clone of anything else would cost more than it saves.
        shard.items.push({
          taskTypeId: item.taskTypeId, sink: item.sink, capacity: item.capacity, backlog: item.backlog,
          nonce: item.nonce, timestamp: item.timestamp, r: item.r, vs: item.vs,
        });
      });
      const out = new Array<string | undefined>(items.length);
      try {
        await Promise.all(
          shards.map(async (shard, w) => {
            if (!shard.items.length) return;
            const errors = await send(workers[w], shard.items);
            shard.index.forEach((i, j) => (out[i] = errors[j] ?? undefined));
          }),
        );
      } catch {
        return inline(items);
      }
      return out;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
