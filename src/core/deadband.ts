/**
 * Rebalance deadband (`REBALANCE_THRESHOLD_BPS = 500`, i.e. 5 %): a unit change is worth a transaction
 * only if it moves by more than the threshold. Mirrors `CapacityMath.outsideDeadband`: changes to or
 * from zero always pass (a leaving sink must lose its units, a new one must get some).
 */
export const REBALANCE_THRESHOLD_BPS = 500;

export function needsUpdate(current: bigint, target: bigint, thresholdBps?: bigint | number): boolean;
export function needsUpdate(current: number, target: number, thresholdBps?: number): boolean;
export function needsUpdate(
  current: bigint | number,
  target: bigint | number,
  thresholdBps: bigint | number = REBALANCE_THRESHOLD_BPS,
): boolean {
  if (typeof current === 'bigint' || typeof target === 'bigint') {
    const c = BigInt(current);
    const t = BigInt(target);
    const th = BigInt(thresholdBps);
    if (c < 0n || t < 0n || th < 0n) throw new RangeError('needsUpdate takes non-negative values');
    if (c === t) return false;
    if (c === 0n || t === 0n) return true;
    const diff = c > t ? c - t : t - c;
    return diff * 10_000n > th * c;
  }
  const th = Number(thresholdBps);
  if (!(current >= 0) || !(target >= 0) || !(th >= 0)) throw new RangeError('needsUpdate takes non-negative values');
  if (current === target) return false;
  if (current === 0 || target === 0) return true;
  return Math.abs(target - current) * 10_000 > th * current;
}
