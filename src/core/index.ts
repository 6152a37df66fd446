/**
 * The allocation core: the mechanism's math, shared by the simulator, the rebalance keeper and the SDK.
 * Pure functions on plain inputs (number arrays or typed arrays); no simulator or chain state.
 *
 * Exact (bigint) forms mirror the contracts' `CapacityMath` bit for bit; float forms drive the simulator.
 */
export type { NumArray, MutNumArray, StepResult } from './types.ts';
export { newStepResult } from './types.ts';
export { isqrt, stakeCap, stakeCapFloat, stakeCapsInto } from './stakeCap.ts';
export { BPS, ewmaStep, ewmaStepsToReach, ewmaFloat, ewmaInto } from './ewma.ts';
export { capacityUnits, capacityUnitsOf, unitShares } from './units.ts';
export { REBALANCE_THRESHOLD_BPS, needsUpdate } from './deadband.ts';
export { OVERFLOW_ALL, overflowUnits, overflowShare } from './overflow.ts';
export { REMAINDER_TOLERANCE_BPS, remainderWorthFolding } from './remainder.ts';
export type { Workspace } from './waterFilling.ts';
export {
  createWorkspace,
  ensureWorkspace,
  totalSpare,
  fillSpareInto,
  fillToLevelInto,
  solveLevel,
  solveLevelFromSums,
} from './waterFilling.ts';
export type { BackpressureInput, Allocation } from './backpressure.ts';
export { backpressureInto, allocateBackpressure } from './backpressure.ts';
export type { OptimalInput } from './optimal.ts';
export { optimalInto, allocateOptimal } from './optimal.ts';
export type { ProportionalInput } from './proportional.ts';
export { proportionalInto, capacityProportionalInto, allocateProportional } from './proportional.ts';
export { effectiveCapacities, effectiveCapacitiesExact } from './pipeline.ts';
export type { BaseFeeParams } from './pricing.ts';
export { nextBaseFee, nextBaseFeeExact, pricePerTask } from './pricing.ts';
