/**
 * Pipeline composition: stage i can absorb only what the rest of the chain can,
 * `C_eff(i) = min(C(i), C_eff(i+1))`, computed back-to-front (SPEC section 1, Pipeline).
 */
export function effectiveCapacities(capacities: ArrayLike<number>, out?: number[]): number[] {
  const n = capacities.length;
  const res = out ?? new Array<number>(n);
  let downstream = Infinity;
  for (let i = n - 1; i >= 0; i--) {
    downstream = Math.min(capacities[i], downstream);
    res[i] = downstream;
  }
  return res;
}

/** Exact form (bigint capacities, as on chain). */
export function effectiveCapacitiesExact(capacities: readonly bigint[]): bigint[] {
  const res = new Array<bigint>(capacities.length);
  let downstream: bigint | undefined;
  for (let i = capacities.length - 1; i >= 0; i--) {
    const c = capacities[i];
    downstream = downstream === undefined || c < downstream ? c : downstream;
    res[i] = downstream;
  }
  return res;
}
