/**
 * The `optimal` oracle: water-filling on TRUE capacity and TRUE backlog. Knowing the real spare
 * capacity exactly, anything beyond it would only build backlogs (wasted pay), so the oracle fills
 * spare (in proportion to spare when there is more room than money) and holds the rest in the buffer;
 * when the buffer is full the sources pause. It bounds what any allocation rule can achieve in
 * productive payment per step; it is not implementable (nobody knows true capacity).
 */
import { newStepResult, type MutNumArray, type NumArray, type StepResult } from './types.ts';
import { fillSpareInto } from './waterFilling.ts';
import { checkAmount, checkArrays } from './validate.ts';
import type { Allocation } from './backpressure.ts';
import { holdInBuffer } from './bufferLimit.ts';

export function optimalInto(
  capacity: NumArray,
  backlog: NumArray,
  inflow: number,
  buffer: number,
  bufferMax: number,
  out: MutNumArray,
  res: StepResult,
): StepResult {
  let spare = 0;
  for (let k = 0; k < capacity.length; k++) {
    const c = capacity[k];
    const q = backlog[k];
    if (c > 0 && q < c) spare += c - q;
  }
  const money = inflow + buffer;
  const paid = money < spare ? money : spare;
  res.spare = spare;
  res.toSinks = fillSpareInto(capacity, backlog, paid, spare, out);
  res.level = spare > 0 ? paid / spare : 0;
  holdInBuffer(res, money - paid, inflow, bufferMax);
  return res;
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
