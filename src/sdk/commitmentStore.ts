/**
 * Durable memory of the sink's unrevealed commitments. A commitment is worthless without its nonce,
 * and a pending one blocks new commitments for `commitTimeout` blocks, so a sink that crashes
 * between commit and reveal must find the nonce again on restart: the declarer writes it here
 * BEFORE sending the commit and deletes it only after the reveal succeeded.
 *
 * Entries are keyed by (chainId, registry, taskTypeId, sink): the same file can serve several
 * chains, deployments, task types and sink accounts without collisions.
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Address, Hex } from 'viem';

export interface CommitmentKey {
  chainId: number;
  registry: Address;
  taskTypeId: Hex;
  sink: Address;
}

export interface PendingCommitment {
  capacity: bigint;
  nonce: Hex;
  hash: Hex;
  /** Block the commit was mined in; absent while the commit may not have landed yet. */
  committedAtBlock?: bigint;
}

export interface CommitmentStore {
  get(key: CommitmentKey): Promise<PendingCommitment | undefined>;
  put(key: CommitmentKey, commitment: PendingCommitment): Promise<void>;
  delete(key: CommitmentKey): Promise<void>;
}

/** The store's file is not valid: nothing was dropped, the file is left as found. */
export class CommitmentStoreCorruptError extends Error {
  constructor(readonly path: string, reason: string, options?: { cause?: unknown }) {
    super(`commitment store ${path} is corrupt (${reason}); it may hold unrevealed nonces, so it was not overwritten — inspect or move it`, options);
    this.name = 'CommitmentStoreCorruptError';
  }
}

/** One string per key; addresses and ids lower-cased so checksummed and plain spellings match. */
export function commitmentKeyString(key: CommitmentKey): string {
  return `${key.chainId}:${key.registry.toLowerCase()}:${key.taskTypeId.toLowerCase()}:${key.sink.toLowerCase()}`;
}

/** For tests and apps that accept losing pending commitments on a crash. */
export class InMemoryCommitmentStore implements CommitmentStore {
  readonly #entries = new Map<string, PendingCommitment>();

  async get(key: CommitmentKey): Promise<PendingCommitment | undefined> {
    const entry = this.#entries.get(commitmentKeyString(key));
    return entry && { ...entry };
  }

  async put(key: CommitmentKey, commitment: PendingCommitment): Promise<void> {
    this.#entries.set(commitmentKeyString(key), { ...commitment });
  }

  async delete(key: CommitmentKey): Promise<void> {
    this.#entries.delete(commitmentKeyString(key));
  }
}

interface FileEntry {
  capacity: string;
  nonce: Hex;
  hash: Hex;
  committedAtBlock?: string;
}

const FILE_VERSION = 1;
const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const UINT = /^[0-9]+$/;

/**
 * A JSON file, replaced atomically on every change: the new content goes to a temp file in the
 * same directory, is fsynced, renamed over the target (atomic on POSIX) and the directory is
 * fsynced so the rename itself survives a power loss. A crash leaves either the old or the new
 * file, never a torn one; a leftover temp file is ignored. Each change re-reads the file, so the
 * file (not this object) is the truth; changes through one instance run one at a time.
 */
export class FileCommitmentStore implements CommitmentStore {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Every entry by key string. A missing file is an empty store; a corrupt one throws. */
  async load(): Promise<Map<string, PendingCommitment>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CommitmentStoreCorruptError(this.path, 'not JSON', { cause: err });
    }
    const doc = parsed as { version?: unknown; entries?: unknown };
    if (typeof doc !== 'object' || doc === null || doc.version !== FILE_VERSION || typeof doc.entries !== 'object' || doc.entries === null) {
      throw new CommitmentStoreCorruptError(this.path, `expected { version: ${FILE_VERSION}, entries: {...} }`);
    }
    const out = new Map<string, PendingCommitment>();
    for (const [key, raw] of Object.entries(doc.entries as Record<string, unknown>)) {
      const e = raw as Partial<FileEntry>;
      const valid = typeof e === 'object' && e !== null && typeof e.capacity === 'string' && UINT.test(e.capacity) &&
        typeof e.nonce === 'string' && HEX32.test(e.nonce) && typeof e.hash === 'string' && HEX32.test(e.hash) &&
        (e.committedAtBlock === undefined || (typeof e.committedAtBlock === 'string' && UINT.test(e.committedAtBlock)));
      if (!valid) throw new CommitmentStoreCorruptError(this.path, `entry ${key} is malformed`);
      out.set(key, {
        capacity: BigInt(e.capacity!),
        nonce: e.nonce!,
        hash: e.hash!,
        ...(e.committedAtBlock !== undefined ? { committedAtBlock: BigInt(e.committedAtBlock) } : {}),
      });
    }
    return out;
  }

  async get(key: CommitmentKey): Promise<PendingCommitment | undefined> {
    await this.#queue.catch(() => undefined);
    return (await this.load()).get(commitmentKeyString(key));
  }

  put(key: CommitmentKey, commitment: PendingCommitment): Promise<void> {
    return this.#update((entries) => entries.set(commitmentKeyString(key), { ...commitment }));
  }

  delete(key: CommitmentKey): Promise<void> {
    return this.#update((entries) => entries.delete(commitmentKeyString(key)));
  }

  #update(change: (entries: Map<string, PendingCommitment>) => unknown): Promise<void> {
    const run = this.#queue.then(async () => {
      const entries = await this.load();
      change(entries);
      await this.#writeAtomically(entries);
    }, undefined);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #writeAtomically(entries: Map<string, PendingCommitment>): Promise<void> {
    const doc = {
      version: FILE_VERSION,
      entries: Object.fromEntries(
        [...entries].map(([k, c]): [string, FileEntry] => [k, {
          capacity: c.capacity.toString(),
          nonce: c.nonce,
          hash: c.hash,
          ...(c.committedAtBlock !== undefined ? { committedAtBlock: c.committedAtBlock.toString() } : {}),
        }]),
      ),
    };
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    // Same directory as the target: rename is only atomic within one file system.
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(doc, null, 2) + '\n', 'utf8');
      await file.sync(); // the bytes are on disk before the name points at them
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDirectory(dir);
  }
}

/** fsync of the directory makes the rename durable. Some platforms (Windows) cannot open a
 * directory for syncing; there the rename is as durable as the OS makes it. */
async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EPERM' || code === 'EACCES') return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle.close();
  }
}
