/**
 * Group commit: verified attestations from concurrent requests wait a few milliseconds and are
 * written in one SQLite transaction (one fsync); each request's promise settles only after that
 * transaction committed, so "accepted" is never said of a row that is not on disk.
 */
import type { Attestation } from './attestation.ts';
import type { OracleStore } from './store.ts';

interface Waiting {
  items: Attestation[];
  resolve(inserted: boolean[]): void;
  reject(err: Error): void;
}

export class GroupCommitter {
  private queue: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Rows per committed transaction, for metrics. */
  onCommit: (rows: number) => void = () => {};

  constructor(private readonly store: OracleStore, private readonly delayMs: number) {}

  /** Resolves after the commit with, per item, whether it was inserted (false: already stored). */
  submit(items: Attestation[]): Promise<boolean[]> {
    if (!items.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), this.delayMs);
    });
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.queue;
    this.queue = [];
    if (!group.length) return;
    let inserted: boolean[];
    try {
      inserted = this.store.insertMany(group.flatMap((w) => w.items));
    } catch (err) {
      for (const w of group) w.reject(err as Error);
      return;
    }
    this.onCommit(inserted.length);
    let at = 0;
    for (const w of group) {
      w.resolve(inserted.slice(at, at + w.items.length));
      at += w.items.length;
    }
  }
}
