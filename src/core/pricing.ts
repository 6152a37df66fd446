/**
 * Pricing (SPEC section 1, PricingCurve): price per task = base fee x (1 + queue premium). The base fee
 * moves once per epoch toward a target utilisation, EIP-1559 style: by
 * `maxChange * clamp((u - target) / target, -1, 1)` relative, so one epoch moves it at most by
 * `maxChange` (12.5 % by default). Epochs in which nobody updated the fee count as zero utilisation.
 */

export interface BaseFeeParams {
  /** Target utilisation in (0, 1]. */
  target: number;
  /** Largest relative move per epoch (default 0.125). */
  maxChange?: number;
  /** Floor of the fee (default 0). */
  minFee?: number;
}

/** Base fee after one epoch with utilisation `u`, preceded by `skippedEpochs` epochs without activity. */
export function nextBaseFee(prev: number, u: number, params: BaseFeeParams, skippedEpochs = 0): number {
  const { target } = params;
  const maxChange = params.maxChange ?? 0.125;
  const minFee = params.minFee ?? 0;
  if (!(target > 0 && target <= 1)) throw new RangeError('target utilisation must be in (0, 1]');
  if (!(maxChange > 0 && maxChange < 1)) throw new RangeError('maxChange must be in (0, 1)');
  if (!(prev >= 0) || !(u >= 0)) throw new RangeError('fee and utilisation must be >= 0');
  let fee = prev;
  if (skippedEpochs > 0) fee *= Math.pow(1 - maxChange, skippedEpochs);
  let rel = (u - target) / target;
  if (rel > 1) rel = 1;
  else if (rel < -1) rel = -1;
  fee *= 1 + maxChange * rel;
  return fee < minFee ? minFee : fee;
}

/**
 * Exact integer form for a contract: utilisation and target in basis points, fee in wei. Every move
 * is rounded away from the current fee (at least 1 wei, so a small fee cannot stall in either
 * direction); never below `minFee`.
 */
export function nextBaseFeeExact(
  prev: bigint,
  utilisationBps: bigint,
  targetBps: bigint,
  maxChangeBps = 1250n,
  skippedEpochs = 0,
  minFee = 1n,
): bigint {
  if (targetBps <= 0n || targetBps > 10_000n) throw new RangeError('targetBps must be in [1, 10000]');
  if (maxChangeBps <= 0n || maxChangeBps >= 10_000n) throw new RangeError('maxChangeBps must be in [1, 9999]');
  if (prev < 0n || utilisationBps < 0n) throw new RangeError('fee and utilisation must be >= 0');
  const step = (fee: bigint, used: bigint): bigint => {
    let relBps = ((used - targetBps) * maxChangeBps) / targetBps; // truncates toward zero
    if (relBps > maxChangeBps) relBps = maxChangeBps;
    if (relBps < -maxChangeBps) relBps = -maxChangeBps;
    if (relBps > 0n || (relBps === 0n && used > targetBps)) {
      const up = (fee * relBps + 9_999n) / 10_000n;
      return fee + (up > 0n ? up : 1n);
    }
    if (relBps === 0n && used === targetBps) return fee < minFee ? minFee : fee;
    const down = (fee * -relBps + 9_999n) / 10_000n;
    const next = fee - (down > 0n ? down : 1n);
    return next < minFee ? minFee : next;
  };
  let fee = prev;
  for (let i = 0; i < skippedEpochs && fee > minFee; i++) fee = step(fee, 0n);
  return step(fee, utilisationBps);
}

/** Price per task for one sink: `baseFee * (1 + min(maxPremium, slope * backlog / capacity))`. */
export function pricePerTask(baseFee: number, backlog: number, capacity: number, slope = 0.1, maxPremium = 1): number {
  const premium = capacity > 0 ? Math.min(maxPremium, (slope * backlog) / capacity) : maxPremium;
  return baseFee * (1 + premium);
}
