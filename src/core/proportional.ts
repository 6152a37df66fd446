/**
 * Capacity-proportional allocation (the seeds' rule): the GDA pool splits the stream in proportion to
 * units, i.e. to smoothed, stake-capped declared capacity. Open loop: backlogs play no part.
 *
 * Two forms:
 *  - {@link proportionalInto}: the whole amount is split by weight (what the seeds evaluate; the
 *    buffer only takes money when no sink has any weight).
 *  - {@link capacityProportionalInto}: the contracts' rule with the EscrowBuffer in the flow — the
 *    sinks receive at most the absorbable amount (declared capacity x price, here `absorbable`), the
 *    overflow share goes to the buffer (see overflow.ts), and the buffer drains into the room left
 *    under the absorbable amount in proportion to declared capacity.
 */
import { newStepResult, type MutNumArray, type NumArray, type StepResult } from './types.ts';
import { checkAmount, checkArrays } from './validate.ts';
import type { Allocation } from './backpressure.ts';
import { holdInBuffer } from './bufferLimit.ts';

/** `out_k = amount * w_k / sum(w)`; returns sum(w). Writes zeros when sum(w) is 0. */
export function proportionalInto(weights: NumArray, amount: number, out: MutNumArray): number {
  let total = 0;
  for (let k = 0; k < weights.length; k++) total += weights[k];
  const f = total > 0 ? amount / total : 0;
  for (let k = 0; k < weights.length; k++) out[k] = weights[k] * f;
  return total;
}

/**
 * Split `min(inflow + buffer, absorbable)` in proportion to `declared`; the rest is held in the
 * buffer (sources pause beyond `bufferMax`). With `absorbable = Infinity` this is the plain split.
 */
export function capacityProportionalInto(
  declared: NumArray,
  inflow: number,
  buffer: number,
  bufferMax: number,
  absorbable: number,
  out: MutNumArray,
  res: StepResult,
): StepResult {
  const money = inflow + buffer;
  let total = 0;
  for (let k = 0; k < declared.length; k++) total += declared[k];
  const paid = total > 0 ? (money < absorbable ? money : absorbable) : 0;
  const f = total > 0 ? paid / total : 0;
  let sum = 0;
  for (let k = 0; k < declared.length; k++) {
    const x = declared[k] * f;
    out[k] = x;
    sum += x;
  }
  holdInBuffer(res, money - paid, inflow, bufferMax);
  res.toSinks = sum;
  res.spare = absorbable;
  res.level = total > 0 ? paid / total : 0;
  return res;
}

export interface ProportionalInput {
  /** Declared (stake-capped, smoothed) capacity per sink, money per step. */
  declared: NumArray;
  inflow: number;
  buffer?: number;
  bufferMax?: number;
  /** What the sinks can absorb per step; default Infinity (plain proportional split). */
  absorbable?: number;
}

export function allocateProportional(input: ProportionalInput): Allocation {
  const { declared, inflow } = input;
  const buffer = input.buffer ?? 0;
  const bufferMax = input.bufferMax ?? Infinity;
  const absorbable = input.absorbable ?? Infinity;
  checkArrays({ declared });
  checkAmount('inflow', inflow);
  checkAmount('buffer', buffer);
  if (!(bufferMax >= 0)) throw new RangeError('bufferMax must be >= 0');
  if (!(absorbable >= 0)) throw new RangeError('absorbable must be >= 0');
  const pay = new Float64Array(declared.length);
  const res = capacityProportionalInto(declared, inflow, buffer, bufferMax, absorbable, pay, newStepResult());
  return { ...res, pay };
}
