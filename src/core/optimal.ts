/**
 * The `optimal` oracle: backpressure (backpressure.ts) on TRUE capacity and TRUE backlog, without a
 * probe margin. Knowing the real spare capacity exactly, anything beyond it would only build backlogs
 * (wasted pay), so the oracle fills spare (in proportion to spare when there is more room than money)
 * and holds the rest in the buffer; when the buffer is full the sources pause. It bounds what any
 * allocation rule can achieve in productive payment per step; it is not implementable (nobody knows
 * true capacity).
 */
import { newStepResult, type MutNumArray, type NumArray, type StepResult } from './types.ts';
import { checkAmount, checkArrays } from './validate.ts';
import { backpressureInto, type Allocation } from './backpressure.ts';

export function optimalInto(
  capacity: NumArray,
  backlog: NumArray,
  inflow: number,
  buffer: number,
  bufferMax: number,
  out: MutNumArray,
  res: StepResult,
): StepResult {
  return backpressureInto(capacity, backlog, inflow, buffer, bufferMax, out, res, 0);
}

export interface OptimalInput {
  /** True capacity per sink, money per step. */
  capacity: NumArray;
  /** True backlog per sink. */
  backlog: NumArray;
  inflow: number;
  buffer?: number;
  bufferMax?: number;
}

export function allocateOptimal(input: OptimalInput): Allocation {
  const { capacity, backlog, inflow } = input;
  const buffer = input.buffer ?? 0;
  const bufferMax = input.bufferMax ?? Infinity;
  checkArrays({ capacity, backlog });
  checkAmount('inflow', inflow);
  checkAmount('buffer', buffer);
  if (!(bufferMax >= 0)) throw new RangeError('bufferMax must be >= 0');
  const pay = new Float64Array(capacity.length);
  const res = optimalInto(capacity, backlog, inflow, buffer, bufferMax, pay, newStepResult());
  return { ...res, pay };
}
