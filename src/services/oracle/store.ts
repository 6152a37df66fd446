/**
 * The oracle's durable state: one SQLite table of attestations (better-sqlite3, WAL,
 * synchronous=FULL so that a commit that returned survives a power cut, not only a crash: an
 * "accepted" reply is a promise) and one of relay transactions. A row's life:
 *
 *   pending -> sending (tx hash recorded before the transaction is broadcast) -> relayed | rejected
 *   pending -> superseded (a newer nonce of the same task type and sink is pending or applied)
 *   pending -> expired (older than the aggregator's max age before it could be relayed)
 *   sending -> pending (the transaction never reached the chain; sent again)
 *
 * The unique key (task type, sink, nonce) makes a resubmission a duplicate, never a second row.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../common/sqlite.ts';
import type { Address, Hex } from 'viem';
import type { Attestation } from './attestation.ts';

export type RowStatus = 'pending' | 'sending' | 'relayed' | 'rejected' | 'superseded' | 'expired';
export const ROW_STATUSES: RowStatus[] = ['pending', 'sending', 'relayed', 'rejected', 'superseded', 'expired'];

export interface StoredRow {
  id: number;
  taskTypeId: Hex;
  sink: Address;
  nonce: number;
  capacity: bigint;
  backlog: bigint;
  timestamp: bigint;
  r: Hex;
  vs: Hex;
  status: RowStatus;
  txHash: Hex | null;
  reason: string | null;
  notBefore: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS attestations (
  id INTEGER PRIMARY KEY,
  task_type_id TEXT NOT NULL,
  sink TEXT NOT NULL,
  nonce INTEGER NOT NULL CHECK (nonce BETWEEN 0 AND 4294967295),
  capacity INTEGER NOT NULL CHECK (capacity BETWEEN 0 AND 1099511627775),
  backlog INTEGER NOT NULL CHECK (backlog BETWEEN 0 AND 1099511627775),
  timestamp INTEGER NOT NULL CHECK (timestamp >= 0),
  r TEXT NOT NULL,
  vs TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','sending','relayed','rejected','superseded','expired')),
  tx_hash TEXT,
  reason TEXT,
  not_before INTEGER NOT NULL DEFAULT 0,
  received_at INTEGER NOT NULL,
  UNIQUE (task_type_id, sink, nonce)
);
CREATE INDEX IF NOT EXISTS attestations_open ON attestations (status) WHERE status IN ('pending', 'sending');
CREATE TABLE IF NOT EXISTS relays (
  tx_hash TEXT PRIMARY KEY,
  items INTEGER NOT NULL,
  accepted INTEGER,
  rejected INTEGER,
  gas_used INTEGER,
  block_number INTEGER,
  sent_at INTEGER NOT NULL,
  mined_at INTEGER
);
`;

interface RawRow {
  id: number;
  task_type_id: string;
  sink: string;
  nonce: number;
  capacity: number | bigint;
  backlog: number | bigint;
  timestamp: number | bigint;
  r: string;
  vs: string;
  status: RowStatus;
  tx_hash: string | null;
  reason: string | null;
  not_before: number;
}

const fromRaw = (r: RawRow): StoredRow => ({
  id: r.id,
  taskTypeId: r.task_type_id as Hex,
  sink: r.sink as Address,
  nonce: r.nonce,
  capacity: BigInt(r.capacity),
  backlog: BigInt(r.backlog),
  timestamp: BigInt(r.timestamp),
  r: r.r as Hex,
  vs: r.vs as Hex,
  status: r.status,
  txHash: r.tx_hash as Hex | null,
  reason: r.reason,
  notBefore: r.not_before,
});

export interface RelayRecord {
  txHash: Hex;
  items: number;
  accepted: number | null;
  gasUsed: number | null;
  blockNumber: number | null;
  minedAt: number | null;
}

export class OracleStore {
  readonly db: Database.Database;
  private readonly stmt;

  constructor(path: string) {
    this.db = openDatabase(path, SCHEMA);
    const db = this.db;
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO attestations (task_type_id, sink, nonce, capacity, backlog, timestamp, r, vs, status, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING`,
      ),
      maxNonce: db.prepare('SELECT MAX(nonce) AS n FROM attestations WHERE task_type_id = ? AND sink = ?'),
      exists: db.prepare('SELECT 1 FROM attestations WHERE task_type_id = ? AND sink = ? AND nonce = ?'),
      // "IN (...) AND": the planner uses the partial index only when the query repeats its condition.
      withStatus: db.prepare(`SELECT * FROM attestations WHERE status IN ('pending', 'sending') AND status = ? ORDER BY id`),
      openByStatus: db.prepare(`SELECT status, COUNT(*) AS n FROM attestations WHERE status IN ('pending', 'sending') GROUP BY status`),
      // A pending row with a newer pending nonce of its (task type, sink) would only be sent to be
      // overwritten: one statement settles them all (the unique key's index finds the newer row).
      supersede: db.prepare(
        `UPDATE attestations SET status = 'superseded', reason = ? WHERE status IN ('pending', 'sending') AND status = 'pending' AND EXISTS (
           SELECT 1 FROM attestations AS newer WHERE newer.task_type_id = attestations.task_type_id
             AND newer.sink = attestations.sink AND newer.nonce > attestations.nonce AND newer.status = 'pending')`,
      ),
      maxSentNonce: db.prepare(
        `SELECT MAX(nonce) AS n FROM attestations WHERE task_type_id = ? AND sink = ? AND status IN ('sending', 'relayed')`,
      ),
      setStatus: db.prepare('UPDATE attestations SET status = ?, reason = ?, tx_hash = ? WHERE id = ?'),
      defer: db.prepare(`UPDATE attestations SET status = 'pending', tx_hash = NULL, reason = ?, not_before = ? WHERE id = ?`),
      counts: db.prepare('SELECT status, COUNT(*) AS n FROM attestations GROUP BY status'),
      relayInsert: db.prepare('INSERT OR REPLACE INTO relays (tx_hash, items, sent_at) VALUES (?, ?, ?)'),
      relayMined: db.prepare('UPDATE relays SET accepted = ?, rejected = ?, gas_used = ?, block_number = ?, mined_at = ? WHERE tx_hash = ?'),
      relayDelete: db.prepare('DELETE FROM relays WHERE tx_hash = ?'),
      lastRelay: db.prepare('SELECT * FROM relays WHERE mined_at IS NOT NULL ORDER BY mined_at DESC, rowid DESC LIMIT 1'),
      relays: db.prepare('SELECT * FROM relays WHERE mined_at IS NOT NULL ORDER BY rowid'),
    };
  }

  /** Inserts verified attestations in one transaction (one fsync); per item: inserted, or a duplicate. */
  insertMany(items: Attestation[], now = Date.now()): boolean[] {
    return this.db.transaction(() =>
      items.map((a) => {
        const info = this.stmt.insert.run(a.taskTypeId, a.sink, a.nonce, a.capacity, a.backlog, a.timestamp, a.r, a.vs, now);
        return info.changes === 1;
      }),
    )();
  }

  maxNonce(taskTypeId: string, sink: string): number | undefined {
    const row = this.stmt.maxNonce.get(taskTypeId, sink) as { n: number | null };
    return row.n ?? undefined;
  }

  exists(taskTypeId: string, sink: string, nonce: number): boolean {
    return this.stmt.exists.get(taskTypeId, sink, nonce) !== undefined;
  }

  /** Rows in one open status, oldest first. */
  rowsWithStatus(status: 'pending' | 'sending'): StoredRow[] {
    return (this.stmt.withStatus.all(status) as RawRow[]).map(fromRaw);
  }

  /** Marks superseded every pending row whose (task type, sink) has a newer pending nonce; how many. */
  supersedePending(reason: string): number {
    return this.stmt.supersede.run(reason).changes;
  }

  /** Rows not yet settled on chain, by status. */
  openCounts(): { pending: number; sending: number } {
    const out = { pending: 0, sending: 0 };
    for (const { status, n } of this.stmt.openByStatus.all() as { status: 'pending' | 'sending'; n: number }[]) out[status] = n;
    return out;
  }

  /** Highest nonce of the key sent or relayed by this oracle (anything at or below it is superseded). */
  maxSentNonce(taskTypeId: string, sink: string): number | undefined {
    const row = this.stmt.maxSentNonce.get(taskTypeId, sink) as { n: number | null };
    return row.n ?? undefined;
  }

  /** Sets several rows' status in one transaction. */
  setStatus(updates: { id: number; status: RowStatus; reason?: string | null; txHash?: Hex | null }[]): void {
    this.db.transaction(() => {
      for (const u of updates) this.stmt.setStatus.run(u.status, u.reason ?? null, u.txHash ?? null, u.id);
    })();
  }

  /** Back to pending, not to be sent before chain time `notBefore` (the registry's rate limit). */
  defer(ids: number[], notBefore: number, reason: string | null): void {
    this.db.transaction(() => {
      for (const id of ids) this.stmt.defer.run(reason, notBefore, id);
    })();
  }

  /** Marks rows 'sending' with the hash of the signed transaction, and records the relay, before it is broadcast. */
  markSending(ids: number[], txHash: Hex, now = Date.now()): void {
    this.db.transaction(() => {
      for (const id of ids) this.stmt.setStatus.run('sending', null, txHash, id);
      this.stmt.relayInsert.run(txHash, ids.length, now);
    })();
  }

  /** Records the mined transaction's outcome for its rows, in one transaction. */
  recordOutcome(
    txHash: Hex,
    outcome: { relayed: number[]; rejected: { id: number; reason: string }[]; deferred: { id: number; notBefore: number; reason: string }[] },
    receipt: { gasUsed: bigint; blockNumber: bigint; accepted: number; rejected: number },
    now = Date.now(),
  ): void {
    this.db.transaction(() => {
      for (const id of outcome.relayed) this.stmt.setStatus.run('relayed', null, txHash, id);
      for (const r of outcome.rejected) this.stmt.setStatus.run('rejected', r.reason, txHash, r.id);
      for (const d of outcome.deferred) this.stmt.defer.run(d.reason, d.notBefore, d.id);
      this.stmt.relayMined.run(receipt.accepted, receipt.rejected, receipt.gasUsed, receipt.blockNumber, now, txHash);
    })();
  }

  /** The transaction never reached the chain: its rows go back to pending, its relay record away. */
  unsend(txHash: Hex, ids: number[]): void {
    this.db.transaction(() => {
      for (const id of ids) this.stmt.defer.run(null, 0, id);
      this.stmt.relayDelete.run(txHash);
    })();
  }

  /** Rows not yet settled on chain ('pending' and 'sending'). */
  openCount(): number {
    const { pending, sending } = this.openCounts();
    return pending + sending;
  }

  counts(): Record<RowStatus, number> {
    const out = Object.fromEntries(ROW_STATUSES.map((s) => [s, 0])) as Record<RowStatus, number>;
    for (const { status, n } of this.stmt.counts.all() as { status: RowStatus; n: number }[]) out[status] = n;
    return out;
  }

  lastRelay(): RelayRecord | undefined {
    const r = this.stmt.lastRelay.get() as Record<string, unknown> | undefined;
    return r && toRelay(r);
  }

  relays(): RelayRecord[] {
    return (this.stmt.relays.all() as Record<string, unknown>[]).map(toRelay);
  }

  close(): void {
    this.db.close();
  }
}

const toRelay = (r: Record<string, unknown>): RelayRecord => ({
  txHash: r.tx_hash as Hex,
  items: r.items as number,
  accepted: (r.accepted as number | null) ?? null,
  gasUsed: (r.gas_used as number | null) ?? null,
  blockNumber: (r.block_number as number | null) ?? null,
  minedAt: (r.mined_at as number | null) ?? null,
});
