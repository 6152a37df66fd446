/** Minimal CSV writer (RFC 4180 quoting), deterministic number formatting. */

export type Cell = string | number | boolean | null;

export interface CsvTable {
  columns: string[];
  /** Rows, produced on demand (a long run's CSV is never held in memory as cells). */
  rows: () => Iterable<Cell[]>;
}

export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(10)));
}

function cell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvLine(r: readonly Cell[]): string {
  return r.map(cell).join(',') + '\n';
}

/** The CSV text in chunks of about `chunkRows` rows (header first). */
export function* csvChunks(t: CsvTable, chunkRows = 4096): Generator<string> {
  yield csvLine(t.columns);
  let buf: string[] = [];
  for (const r of t.rows()) {
    buf.push(csvLine(r));
    if (buf.length >= chunkRows) {
      yield buf.join('');
      buf = [];
    }
  }
  if (buf.length > 0) yield buf.join('');
}

export function toCsv(t: CsvTable): string {
  return [...csvChunks(t)].join('');
}
