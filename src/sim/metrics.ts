/** Summaries of per-step series: windows, ratios, convergence and recovery times. */

export function mean(a: ArrayLike<number>, from = 0, to = a.length): number {
  if (to <= from) return NaN;
  let s = 0;
  for (let i = from; i < to; i++) s += a[i];
  return s / (to - from);
}

export function sum(a: ArrayLike<number>, from = 0, to = a.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i];
  return s;
}

export function max(a: ArrayLike<number>, from = 0, to = a.length): number {
  let m = -Infinity;
  for (let i = from; i < to; i++) if (a[i] > m) m = a[i];
  return m;
}

/**
 * Allocation efficiency over [from, to): productive pay over total pay, sum_t sum_k min(F_k, C_k) /
 * sum_t sum_k F_k. Steps that pay nothing add nothing (they do not count as efficient); NaN when
 * nothing was paid in the whole window.
 */
export function efficiency(s: { productive: ArrayLike<number>; paid: ArrayLike<number> }, from = 0, to = s.paid.length): number {
  const p = sum(s.paid, from, to);
  return p > 0 ? sum(s.productive, from, to) / p : NaN;
}

/**
 * Served ratio sigma over [from, to): productive pay over the most that was feasible, the strategy's
 * own `feasible` series (min(capacity, demand + the money it held) per type and step), so it never
 * exceeds 1. NaN when nothing was feasible.
 */
export function servedRatio(s: { productive: ArrayLike<number>; feasible: ArrayLike<number> }, from = 0, to = s.feasible.length): number {
  const f = sum(s.feasible, from, to);
  return f > 0 ? sum(s.productive, from, to) / f : NaN;
}

/**
 * First r >= 0 such that `ok(t0 + j)` holds for every j in [r, r + window) (truncated at the end of
 * the series); null if there is none. Used for "steps until back within x of the optimum".
 */
export function firstSustained(length: number, t0: number, window: number, ok: (t: number) => boolean): number | null {
  let run = 0;
  for (let t = t0; t < length; t++) {
    if (ok(t)) {
      run++;
      if (run >= window || t === length - 1) return t - run + 1 - t0;
    } else run = 0;
  }
  return null;
}

/**
 * Steps after t0 until `x` stays within `tol` (relative) of the reference series for `window` steps
 * (a NaN on either side is not within).
 */
export function stepsWithin(
  x: ArrayLike<number>,
  reference: ArrayLike<number>,
  t0: number,
  tol: number,
  window: number,
): number | null {
  return firstSustained(x.length, t0, window, (t) => x[t] >= (1 - tol) * reference[t]);
}

/** Steps after t0 until eta stays within `tol` (relative) of a constant level for `window` steps. */
export function stepsWithinLevel(eta: ArrayLike<number>, level: number, t0: number, tol: number, window: number): number | null {
  return firstSustained(eta.length, t0, window, (t) => eta[t] >= (1 - tol) * level);
}

/** Relative standard deviation of x[from..to) (std / mean), 0 if the mean is 0. */
export function relStd(x: ArrayLike<number>, from: number, to: number): number {
  const m = mean(x, from, to);
  if (!(m > 0)) return 0;
  let v = 0;
  for (let i = from; i < to; i++) v += (x[i] - m) * (x[i] - m);
  return Math.sqrt(v / (to - from)) / m;
}

/** Rounds to `digits` significant decimals for reports (stable, deterministic). */
export function round(x: number, digits = 6): number {
  if (!Number.isFinite(x)) return x;
  return Number(x.toFixed(digits));
}
