/**
 * The allocation core: the mechanism's math, shared by the simulator, the rebalance keeper and the SDK.
 * Pure functions on plain inputs (number arrays or typed arrays); no simulator or chain state.
 *
 * Exact (bigint) forms mirror the contracts' `CapacityMath` bit for bit; float forms drive the simulator.
 */
export type { NumArray, MutNumArray, StepResult } from './types.ts';
export { newStepResult } from './types.ts';
export type { CapRule } from './stakeCap.ts';
export { CAP_RULES, capFloat, isqrt, linearStakeCap, stakeCap, stakeCapFloat, stakeCapsInto } from './stakeCap.ts';
export { BPS, ewmaStep, ewmaStepsToReach, ewmaFloat, ewmaInto } from './ewma.ts';
export { capacityUnits, capacityUnitsOf, unitShares } from './units.ts';
export { REBALANCE_THRESHOLD_BPS, needsUpdate } from './deadband.ts';
export { OVERFLOW_ALL, overflowUnits, overflowShare } from './overflow.ts';
export { holdInBuffer, payWithinRoom } from './bufferLimit.ts';
export { REMAINDER_TOLERANCE_BPS, remainderWorthFolding } from './remainder.ts';
export type { BackpressureInput, Allocation } from './backpressure.ts';
export { PROBE, backpressureInto, allocateBackpressure } from './backpressure.ts';
// Capacity from evidence: completions measure a saturated sink; the declaration is only the prior.
export { capacityEstimate, measureCapacity, shownCapacity } from './capacityEstimate.ts';
// Verification of declared capacity: the seeds' strike rule and the shortfall penalty (default).
export type { StrikeState } from './verification.ts';
export {
  SHORTFALL_TOLERANCE_BPS,
  PENALTY_FACTOR_BPS,
  STRIKE_THRESHOLD_BPS,
  STRIKES_TO_SLASH,
  SLASH_BPS,
  expectedCompletions,
  shortfallPenalty,
  strikeSlash,
  stakePerTask,
} from './verification.ts';
export type { OptimalInput } from './optimal.ts';
export { optimalInto, allocateOptimal } from './optimal.ts';
export type { ProportionalInput } from './proportional.ts';
export { proportionalInto, capacityProportionalInto, allocateProportional } from './proportional.ts';
export { effectiveCapacities, effectiveCapacitiesExact } from './pipeline.ts';
// Checked uint256 arithmetic (OpenZeppelin mulDiv, overflow = revert): lets the exact forms throw
// exactly where the contracts revert instead of returning a value the chain never produces.
export { U256_MAX, mulDiv } from './uint256.ts';
// Queue premium (CapacityMath.queueWeight / premiumMultiplierBps): a sink's own backlog lowers its
// pool weight and raises its price; the keeper and the SDK predict both bit for bit.
export { MAX_PREMIUM_RATIO, queueWeight, premiumMultiplierBps } from './queuePremium.ts';
// Base fee: float form for the simulator (E7); exact per-epoch step (CapacityMath.baseFeeStep) and
// utilisation (PricingCurve.utilizationBps) so off-chain code predicts the PricingCurve exactly.
export type { BaseFeeParams } from './pricing.ts';
export { nextBaseFee, baseFeeStep, utilizationBps, NO_CAPACITY_UTILIZATION_BPS, pricePerTask } from './pricing.ts';
