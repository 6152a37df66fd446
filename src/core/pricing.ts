/**
 * Pricing (SPEC section 1, PricingCurve): price per task = base fee x (1 + queue premium). The base fee
 * moves once per epoch toward a target utilisation, EIP-1559 style: by
 * `maxChange * clamp((u - target) / target, -1, 1)` relative, so one epoch moves it at most by
 * `maxChange` (12.5 % by default).
 *
 * `nextBaseFee` is the float form driving the simulator (experiment E7); there, epochs in which nobody
 * updated the fee count as zero utilisation. `baseFeeStep` and `utilizationBps` are the exact integer
 * rules of the contracts (CapacityMath, PricingCurve; the PricingCurve replays a skipped epoch as one
 * more step at the utilisation re-measured at the new fee).
 */
import { BPS } from './ewma.ts';
import { checked, mulDiv, requireUint256 } from './uint256.ts';
import { MAX_PREMIUM_RATIO } from './queuePremium.ts';

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

/** Utilisation reported when there is demand but no capacity: `type(uint128).max` bps. */
export const NO_CAPACITY_UTILIZATION_BPS = (1n << 128n) - 1n;

/**
 * Exact utilisation of a task type in bps, as `PricingCurve.utilizationBps` measures it before each
 * base fee step: demanded tasks per epoch (`inflow / fee * epochSeconds`) over capacity (the
 * registry's queue-adjusted total weight), `floor(inflow * epochSeconds * 10000 / (fee * capacity))`.
 * Without capacity: 0 without demand, else NO_CAPACITY_UTILIZATION_BPS (the maximum up-step).
 * `inflow` in wei/s, `fee` in wei per task. Throws where the contract reverts (fee == 0, overflow).
 */
export function utilizationBps(inflow: bigint, capacity: bigint, fee: bigint, epochSeconds: bigint): bigint {
  requireUint256('utilizationBps', inflow, capacity, fee, epochSeconds);
  if (capacity === 0n) return inflow === 0n ? 0n : NO_CAPACITY_UTILIZATION_BPS;
  return mulDiv(checked(inflow * epochSeconds, 'utilizationBps: inflow * epochSeconds'), BPS, checked(fee * capacity, 'utilizationBps: fee * capacity'));
}

/**
 * One exact base fee step, the rule of `CapacityMath.baseFeeStep` that the PricingCurve applies once
 * per epoch; a keeper or the SDK predicting the next fee must match it bit for bit
 * (test/chain/capacityMathParity.test.ts compares both on identical inputs).
 *
 * At or above the target (`u >= target`): `up = min(ceil(maxStep * (u - target) / target), maxStep)`
 * bps and `next = ceil(fee * (10000 + up) / 10000)`. Below it:
 * `down = ceil(maxStep * (target - u) / target)` (at most maxStep) and
 * `next = floor(fee * (10000 - down) / 10000)`. The result is then clamped: below `floor` gives
 * `floor`, else above `ceiling` gives `ceiling` (floor wins if floor > ceiling).
 *
 * Why this rounding: both the step (bps) and the new fee round away from the current fee, so any
 * utilisation off the target moves a non-zero fee by at least 1 bps and 1 wei (like EIP-1559's
 * minimum increase). Rounding the up-step down would freeze the fee while demand sits just above the
 * target (u - target < target / maxStep). Utilisation exactly at the target leaves the fee unchanged
 * (up to the clamp).
 *
 * All values are uint256 (utilisation and target in bps, fee, floor and ceiling in wei per task).
 * Throws where the contract reverts: `target == 0`, a down-step larger than 10000 bps
 * (maxStep > 10000), or a result beyond uint256.
 */
export function baseFeeStep(
  fee: bigint,
  utilizationBps: bigint,
  targetBps: bigint,
  maxStepBps: bigint,
  floor: bigint,
  ceiling: bigint,
): bigint {
  requireUint256('baseFeeStep', fee, utilizationBps, targetBps, maxStepBps, floor, ceiling);
  let next: bigint;
  if (utilizationBps >= targetBps) {
    const step = mulDiv(maxStepBps, utilizationBps - targetBps, targetBps, true);
    const up = step < maxStepBps ? step : maxStepBps;
    next = mulDiv(fee, checked(BPS + up, 'baseFeeStep: BPS + up'), BPS, true);
  } else {
    const down = mulDiv(maxStepBps, targetBps - utilizationBps, targetBps, true);
    next = mulDiv(fee, checked(BPS - down, 'baseFeeStep: BPS - down'), BPS);
  }
  return next < floor ? floor : next > ceiling ? ceiling : next;
}

/**
 * Float form of a sink's price per task as PricingCurve.priceOf prices it:
 * `baseFee * (1 + gamma * min(backlog / capacity, MAX_PREMIUM_RATIO))`; without capacity, any
 * backlog counts as the largest ratio. (The exact form is `premiumMultiplierBps`.)
 */
export function pricePerTask(baseFee: number, backlog: number, capacity: number, gamma = 1): number {
  const maxRatio = Number(MAX_PREMIUM_RATIO);
  const ratio = capacity > 0 ? Math.min(backlog / capacity, maxRatio) : backlog > 0 ? maxRatio : 0;
  return baseFee * (1 + gamma * ratio);
}
