/**
 * The verifier's SQLite store (better-sqlite3, WAL, synchronous FULL): a receipt is acknowledged
 * only after the transaction that inserted it committed. One row per (source, task id), the
 * order they arrived in. Status: pending (to submit) → submitting (a submission is under way; on
 * start such rows are reconciled against the chain) → counted | rejected (final, with the reason).
 * Slashes observed on chain are kept too, with the block the event scan has reached.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../common/sqlite.ts';
import type { Address, Hex } from 'viem';
import type { SignedReceipt } from './receipts.ts';

export type ReceiptStatus = 'pending' | 'submitting' | 'counted' | 'rejected';

export interface ReceiptRow {
  id: number;
  source: Address;
  taskId: Hex;
  taskTypeId: Hex;
  sink: Address;
  completedAt: bigint;
  deadline: bigint;
  sinkSignature: Hex;
  sourceSignature: Hex;
  status: ReceiptStatus;
  reason: string | null;
  txHash: Hex | null;
  attempts: number;
  nextAttemptAt: number;
}

export interface SlashRecord {
  txHash: Hex;
  logIndex: number;
  blockNumber: bigint;
  taskTypeId: Hex;
  sink: Address;
  amount: bigint;
  fromEpoch: bigint;
  epochs: bigint;
  expected: bigint;
  completions: bigint;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS receipts (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  task_id TEXT NOT NULL,
  task_type_id TEXT NOT NULL,
  sink TEXT NOT NULL,
  completed_at TEXT NOT NULL,
  deadline TEXT NOT NULL,
  sink_signature TEXT NOT NULL,
  source_signature TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'submitting', 'counted', 'rejected')),
  reason TEXT,
  tx_hash TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  received_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (source, task_id)
);
CREATE INDEX IF NOT EXISTS receipts_by_status ON receipts (status, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS slashes (
  tx_hash TEXT NOT NULL,
  log_index INTEGER NOT NULL,
  block_number TEXT NOT NULL,
  task_type_id TEXT NOT NULL,
  sink TEXT NOT NULL,
  amount TEXT NOT NULL,
  from_epoch TEXT NOT NULL,
  epochs TEXT NOT NULL,
  expected TEXT NOT NULL,
  completions TEXT NOT NULL,
  PRIMARY KEY (tx_hash, log_index)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

function toRow(r: Record<string, any>): ReceiptRow {
  return {
    id: r.id,
    source: r.source,
    taskId: r.task_id,
    taskTypeId: r.task_type_id,
    sink: r.sink,
    completedAt: BigInt(r.completed_at),
    deadline: BigInt(r.deadline),
    sinkSignature: r.sink_signature,
    sourceSignature: r.source_signature,
    status: r.status,
    reason: r.reason,
    txHash: r.tx_hash,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
  };
}

export class ReceiptStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = openDatabase(path, SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  /** Inserts the items in one transaction; returns per item whether it was new (false: a duplicate). */
  insert(items: SignedReceipt[], now = Date.now()): boolean[] {
    const stmt = this.db.prepare(`INSERT INTO receipts
      (source, task_id, task_type_id, sink, completed_at, deadline, sink_signature, source_signature, status, received_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (source, task_id) DO NOTHING`);
    return this.db.transaction(() =>
      items.map(({ receipt: r, sinkSignature, sourceSignature }) =>
        stmt.run(
          r.source.toLowerCase(), r.taskId.toLowerCase(), r.taskTypeId.toLowerCase(), r.sink.toLowerCase(),
          r.completedAt.toString(), r.deadline.toString(), sinkSignature, sourceSignature, now, now,
        ).changes === 1,
      ),
    )();
  }

  exists(source: Address, taskId: Hex): boolean {
    return this.db.prepare('SELECT 1 FROM receipts WHERE source = ? AND task_id = ?').get(source.toLowerCase(), taskId.toLowerCase()) !== undefined;
  }

  get(source: Address, taskId: Hex): ReceiptRow | undefined {
    const r = this.db.prepare('SELECT * FROM receipts WHERE source = ? AND task_id = ?').get(source.toLowerCase(), taskId.toLowerCase());
    return r ? toRow(r as Record<string, any>) : undefined;
  }

  /** Pending rows whose next attempt has come, oldest first. */
  due(now: number, limit: number): ReceiptRow[] {
    return (this.db.prepare(`SELECT * FROM receipts WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?`).all(now, limit) as Record<string, any>[]).map(toRow);
  }

  withStatus(status: ReceiptStatus): ReceiptRow[] {
    return (this.db.prepare('SELECT * FROM receipts WHERE status = ? ORDER BY id').all(status) as Record<string, any>[]).map(toRow);
  }

  counts(): Record<ReceiptStatus, number> {
    const out: Record<ReceiptStatus, number> = { pending: 0, submitting: 0, counted: 0, rejected: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM receipts GROUP BY status').all() as { status: ReceiptStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  total(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM receipts').get() as { n: number }).n;
  }

  setStatus(id: number, status: ReceiptStatus, fields: { reason?: string | null; txHash?: string | null; attempts?: number; nextAttemptAt?: number } = {}): void {
    this.db.prepare(`UPDATE receipts SET status = ?, reason = COALESCE(?, reason), tx_hash = COALESCE(?, tx_hash),
      attempts = COALESCE(?, attempts), next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ? WHERE id = ?`)
      .run(status, fields.reason ?? null, fields.txHash ?? null, fields.attempts ?? null, fields.nextAttemptAt ?? null, Date.now(), id);
  }

  /** Marks the rows of one batch `submitting` with the hash of the transaction about to carry
   * them, in one SQLite transaction (before the transaction is broadcast). */
  markSubmitting(ids: number[], txHash: string): void {
    const stmt = this.db.prepare(`UPDATE receipts SET status = 'submitting', tx_hash = ?, updated_at = ? WHERE id = ?`);
    const now = Date.now();
    this.db.transaction(() => { for (const id of ids) stmt.run(txHash, now, id); })();
  }

  /** Rows whose transaction was never broadcast: pending again, no transaction. */
  unsend(ids: number[]): void {
    const stmt = this.db.prepare(`UPDATE receipts SET status = 'pending', tx_hash = NULL, updated_at = ? WHERE id = ? AND status = 'submitting'`);
    const now = Date.now();
    this.db.transaction(() => { for (const id of ids) stmt.run(now, id); })();
  }

  /** Applies many status changes in one SQLite transaction. */
  setStatuses(changes: { id: number; status: ReceiptStatus; fields?: Parameters<ReceiptStore['setStatus']>[2] }[]): void {
    this.db.transaction(() => { for (const c of changes) this.setStatus(c.id, c.status, c.fields); })();
  }

  /** Records a slash once (by transaction and log index); returns whether it was new. */
  addSlash(s: SlashRecord): boolean {
    return this.db.prepare(`INSERT INTO slashes (tx_hash, log_index, block_number, task_type_id, sink, amount, from_epoch, epochs, expected, completions)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`).run(
      s.txHash, s.logIndex, s.blockNumber.toString(), s.taskTypeId, s.sink, s.amount.toString(), s.fromEpoch.toString(), s.epochs.toString(),
      s.expected.toString(), s.completions.toString(),
    ).changes === 1;
  }

  slashes(sink?: Address): SlashRecord[] {
    const rows = (sink
      ? this.db.prepare('SELECT * FROM slashes WHERE lower(sink) = ? ORDER BY CAST(block_number AS INTEGER), log_index').all(sink.toLowerCase())
      : this.db.prepare('SELECT * FROM slashes ORDER BY CAST(block_number AS INTEGER), log_index').all()) as Record<string, any>[];
    return rows.map((r) => ({
      txHash: r.tx_hash, logIndex: r.log_index, blockNumber: BigInt(r.block_number), taskTypeId: r.task_type_id, sink: r.sink,
      amount: BigInt(r.amount), fromEpoch: BigInt(r.from_epoch), epochs: BigInt(r.epochs), expected: BigInt(r.expected), completions: BigInt(r.completions),
    }));
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
