/**
 * Stake cap: the capacity a stake may back. `cap(stake) = floor(sqrt(stake / stakeUnit))` when
 * `stake >= minStake`, else 0 — the exact integer rule of `CapacityMath.capacityCap` on chain —
 * and a float form for the simulator (no floor: `sqrt(stake / stakeUnit)`).
 *
 * Concave in stake: splitting a stake S over n identities multiplies the total cap by sqrt(n)
 * (it does NOT reduce it); only the minimum stake bounds n to S / minStake.
 */

/** Integer square root: the largest r with r*r <= n (n >= 0). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError(`isqrt of a negative number: ${n}`);
  if (n < 2n) return n;
  // Newton's iteration from an over-estimate (2^ceil(bits/2)) decreases monotonically to floor(sqrt(n)).
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Exact on-chain cap: `stake >= minStake ? isqrt(stake / stakeUnit) : 0` (integer division first). */
export function stakeCap(stake: bigint, minStake: bigint, stakeUnit: bigint): bigint {
  if (stake < 0n || minStake < 0n) throw new RangeError('stake and minStake must be >= 0');
  if (stakeUnit <= 0n) throw new RangeError('stakeUnit must be > 0');
  if (stake < minStake) return 0n;
  return isqrt(stake / stakeUnit);
}

/** Float cap for the simulator: `stake >= minStake ? sqrt(stake / stakeUnit) : 0`. */
export function stakeCapFloat(stake: number, minStake: number, stakeUnit = 1): number {
  return capFloat('sqrt', stake, minStake, stakeUnit);
}

/** Float caps of many stakes into `out` (same length). */
export function stakeCapsInto(
  stakes: ArrayLike<number>,
  minStake: number,
  stakeUnit: number,
  out: { [i: number]: number; readonly length: number },
): void {
  for (let k = 0; k < stakes.length; k++) out[k] = stakeCapFloat(stakes[k], minStake, stakeUnit);
}

/**
 * The two cap rules. `sqrt` is the seeds' rule above (concave: n identities back sqrt(n) times the
 * capacity of one). `linear` backs capacity in proportion to stake, `stake / stakePerTask` (0 below
 * the minimum stake): splitting a stake over n identities backs exactly the same total capacity, and
 * every identity must hold the minimum stake, so splitting never gains and costs once an identity's
 * share falls below the minimum.
 */
export type CapRule = 'sqrt' | 'linear';
export const CAP_RULES: readonly CapRule[] = ['sqrt', 'linear'];

/** Exact linear cap: `stake >= minStake ? stake / stakePerTask : 0` (integer division, as on chain). */
export function linearStakeCap(stake: bigint, minStake: bigint, stakePerTask: bigint): bigint {
  if (stake < 0n || minStake < 0n) throw new RangeError('stake and minStake must be >= 0');
  if (stakePerTask <= 0n) throw new RangeError('stakePerTask must be > 0');
  return stake < minStake ? 0n : stake / stakePerTask;
}

/** Float cap under either rule: `unit` is stakeUnit for `sqrt`, stakePerTask for `linear`. */
export function capFloat(rule: CapRule, stake: number, minStake: number, unit: number): number {
  if (!(stake >= minStake && stake > 0)) return 0;
  return rule === 'sqrt' ? Math.sqrt(stake / unit) : stake / unit;
}
