/**
 * Water-filling into capacity that is partly used by backlogs. All O(n) in the number of sinks, no
 * allocation (the caller owns the scratch index array).
 *
 * For sink k with capacity c_k and backlog q_k (same unit, per step) the spare capacity is
 * `s_k = max(0, c_k - q_k)`. Two regimes:
 *  - amount <= sum(s): every spare is filled by the same fraction, `x_k = s_k * amount / sum(s)`,
 *    so no sink gets more than its spare.
 *  - amount > sum(s): the sinks are filled to a common level m >= 1, `x_k = max(0, m * c_k - q_k)`:
 *    each receiving sink's predicted backlog `q_k + x_k - c_k` is `(m - 1) * c_k`, i.e. the same
 *    number of steps of its own capacity. Money above capacity is therefore spread in proportion to
 *    capacity among the sinks at the level, and a backlogged sink gets nothing until the level reaches
 *    it. Splitting a sink into parts with proportional capacity and backlog changes nothing.
 */

/** Scratch space for {@link solveLevel}; grow it with {@link ensureWorkspace}. */
export interface Workspace {
  idx: Int32Array;
}

export function createWorkspace(n = 0): Workspace {
  return { idx: new Int32Array(Math.max(16, n)) };
}

export function ensureWorkspace(ws: Workspace, n: number): Workspace {
  if (ws.idx.length < n) ws.idx = new Int32Array(Math.max(n, ws.idx.length * 2));
  return ws;
}

/** Total spare capacity `sum(max(0, c_k - q_k))` over sinks with c_k > 0. */
export function totalSpare(capacity: ArrayLike<number>, backlog: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < capacity.length; k++) {
    const c = capacity[k];
    const q = backlog[k];
    if (c > 0 && q < c) s += c - q;
  }
  return s;
}

/** `out_k = spare_k * amount / spareTotal` (all 0 when spareTotal is 0). Returns the sum written. */
export function fillSpareInto(
  capacity: ArrayLike<number>,
  backlog: ArrayLike<number>,
  amount: number,
  spareTotal: number,
  out: { [i: number]: number; readonly length: number },
): number {
  const f = spareTotal > 0 ? amount / spareTotal : 0;
  let sum = 0;
  for (let k = 0; k < capacity.length; k++) {
    const c = capacity[k];
    const q = backlog[k];
    const x = c > 0 && q < c ? (c - q) * f : 0;
    out[k] = x;
    sum += x;
  }
  return sum;
}

/** `out_k = max(0, m * c_k - q_k)` for c_k > 0, else 0. Returns the sum written. */
export function fillToLevelInto(
  capacity: ArrayLike<number>,
  backlog: ArrayLike<number>,
  m: number,
  out: { [i: number]: number; readonly length: number },
): number {
  let sum = 0;
  for (let k = 0; k < capacity.length; k++) {
    const c = capacity[k];
    let x = 0;
    if (c > 0) {
      x = m * c - backlog[k];
      if (x < 0) x = 0;
    }
    out[k] = x;
    sum += x;
  }
  return sum;
}

/**
 * The level m >= 1 with `sum_k max(0, m * c_k - q_k) = amount`, for `amount >= totalSpare` and at
 * least one c_k > 0 (returns Infinity when no sink has capacity, and 1 when amount equals the spare).
 *
 * f(m) is convex, piecewise linear and increasing. Start from an upper bound of the root and solve the
 * linear equation over the sinks active there; sinks whose breakpoint `q_k / c_k` lies above the new
 * root drop out; repeat (Michelot's projection algorithm). Every iterate stays >= the root and the
 * active set only shrinks, so it ends exactly. Sinks with spare are active at every level >= 1 and
 * enter only through their sums: the rounds revisit only the sinks without spare (`ws.idx`), usually
 * a small minority, in 2 to 4 rounds; one pass over all sinks in total.
 */
export function solveLevel(
  capacity: ArrayLike<number>,
  backlog: ArrayLike<number>,
  amount: number,
  ws: Workspace,
): number {
  ensureWorkspace(ws, capacity.length);
  const idx = ws.idx;
  let cnt = 0;
  let dAct = 0;
  let qAct = 0;
  let dAll = 0;
  let qAll = 0;
  for (let k = 0; k < capacity.length; k++) {
    const c = capacity[k];
    if (!(c > 0)) continue;
    const q = backlog[k];
    dAll += c;
    qAll += q;
    if (q < c) {
      dAct += c;
      qAct += q;
    } else idx[cnt++] = k;
  }
  return solveLevelFromSums(capacity, backlog, amount, dAct, qAct, dAll, qAll, ws, cnt);
}

/**
 * {@link solveLevel} when the caller already has the sums and the candidates: over sinks with spare
 * (c > 0, q < c) `dAct = sum c`, `qAct = sum q`; over all sinks with c > 0, `dAll = sum c`,
 * `qAll = sum q`; and in `ws.idx[0 .. cnt)` the indices of the sinks with c > 0 and q >= c (no
 * spare: their breakpoint q / c is >= 1). `ws.idx` is reordered.
 */
export function solveLevelFromSums(
  capacity: ArrayLike<number>,
  backlog: ArrayLike<number>,
  amount: number,
  dAct: number,
  qAct: number,
  dAll: number,
  qAll: number,
  ws: Workspace,
  cnt: number,
): number {
  if (!(dAll > 0)) return Infinity;
  // Two upper bounds of the root: the linear solve over the always-active sinks (a subset of the
  // active set at the root) and over every sink (inactive ones contribute negatively there).
  let m = (amount + qAll) / dAll;
  if (dAct > 0) {
    const m1 = (amount + qAct) / dAct;
    if (m1 < m) m = m1;
  }
  if (m <= 1) return 1;
  const idx = ws.idx;
  for (;;) {
    // Keep the candidates active at m, then solve the linear equation over the active set.
    let j = 0;
    let dc = dAct;
    let qc = qAct;
    for (let i = 0; i < cnt; i++) {
      const k = idx[i];
      const c = capacity[k];
      const q = backlog[k];
      if (q < m * c) {
        idx[j++] = k;
        dc += c;
        qc += q;
      }
    }
    cnt = j;
    // No sink active below m: nothing is placed up to m (amount 0), so m itself is the level.
    if (!(dc > 0)) return m;
    const mNew = (amount + qc) / dc;
    // The root is mNew if no candidate's breakpoint lies in [mNew, m): the active set is then the same.
    let changed = false;
    for (let i = 0; i < cnt; i++) {
      const k = idx[i];
      if (backlog[k] >= mNew * capacity[k]) {
        changed = true;
        break;
      }
    }
    if (!changed || mNew >= m) return mNew < 1 ? 1 : mNew;
    m = mNew;
  }
}
