/**
 * Capacity-proportional pool units: sink k holds `units_k = smoothed_k * unitScale` GDA units, so the
 * pool splits a stream in proportion to smoothed capacity. `unitScale` is chosen at deployment so that
 * total units stay far below flow rates in wei/s (GDA rounding remainders stay small, SPEC section 2).
 */

/** Exact units of one sink. */
export function capacityUnits(smoothed: bigint, unitScale: bigint): bigint {
  if (smoothed < 0n || unitScale < 0n) throw new RangeError('smoothed capacity and unitScale must be >= 0');
  return smoothed * unitScale;
}

/** Exact units of many sinks. */
export function capacityUnitsOf(smoothed: readonly bigint[], unitScale: bigint): bigint[] {
  return smoothed.map((s) => capacityUnits(s, unitScale));
}

/** Float form: the share of a stream each sink receives, `smoothed_k / sum(smoothed)` (0s if all zero). */
export function unitShares(smoothed: ArrayLike<number>, out: { [i: number]: number; readonly length: number }): number {
  let total = 0;
  for (let k = 0; k < smoothed.length; k++) total += smoothed[k];
  const f = total > 0 ? 1 / total : 0;
  for (let k = 0; k < smoothed.length; k++) out[k] = smoothed[k] * f;
  return total;
}
