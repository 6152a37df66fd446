/**
 * Backpressure (SPEC section 3) that holds up under overload and untrustworthy reports: every sink is
 * offered what it can serve next step, the rest waits in the buffer (or the sources pause).
 *
 * Inputs per sink k (money per step): its estimated capacity c_k (capacityEstimate.ts: measured from
 * completions, the declaration until then, never above the stake cap) and its ledger backlog q_k
 * (paid minus completed: the protocol knows both, so no report is needed). Per task type: this step's
 * inflow R and the buffer content B; the money to place is M = R + B.
 *
 *  1. Room: `room_k = max(0, (1 + probe) * c_k - q_k)`, what the sink can finish next step, plus a
 *     small probe margin. The margin keeps a standing backlog of `probe * c_k` at a saturated sink, so
 *     its completions keep measuring its capacity, and lets an under-estimated sink show it can do
 *     more (its estimate then rises by up to the margin per step).
 *  2. Pay `min(M, sum(room))`, every room filled by the same fraction (`x_k = room_k * f`): at most
 *     one step of room per sink, whatever the buffer holds, so a full buffer drains at the rate the
 *     sinks can absorb and never in a burst.
 *  3. The rest stays in the buffer; beyond `bufferMax` the sources pause for the difference
 *     (`refused`). Under overload this is the only place excess money can go without being wasted.
 *
 * Capacity enters in proportion, never per identity: splitting a sink into parts with proportional
 * capacity and backlog changes nothing. With true capacity, true backlog and probe 0 this is the
 * `optimal` oracle (optimal.ts). O(n) per call, no allocation.
 */
import { newStepResult, type MutNumArray, type NumArray, type StepResult } from './types.ts';
import { checkAmount, checkArrays } from './validate.ts';
import { payWithinRoom } from './bufferLimit.ts';

/** Probe margin: a sink is offered up to 5 % more than its estimated capacity (minus its backlog). */
export const PROBE = 0.05;

/**
 * Low-level form for hot loops: writes per-sink payments into `out` (same length as `capacity`),
 * fills `res` and returns it. `buffer` must be <= `bufferMax` for the refusal bound to hold.
 */
export function backpressureInto(
  capacity: NumArray,
  backlog: NumArray,
  inflow: number,
  buffer: number,
  bufferMax: number,
  out: MutNumArray,
  res: StepResult,
  probe = PROBE,
): StepResult {
  const n = capacity.length;
  const head = 1 + probe;
  let room = 0;
  for (let k = 0; k < n; k++) {
    const c = capacity[k];
    let r = c > 0 ? head * c - backlog[k] : 0;
    if (r < 0) r = 0;
    out[k] = r;
    room += r;
  }
  return payWithinRoom(out, room, inflow, buffer, bufferMax, res);
}

export interface BackpressureInput {
  /** Estimated capacity per sink (capacityEstimate), money per step. */
  capacity: NumArray;
  /** Ledger backlog per sink (paid minus completed), same unit. */
  backlog: NumArray;
  /** New money this step (the sources' streams over one step). */
  inflow: number;
  /** Buffer content before the step (default 0). */
  buffer?: number;
  /** Buffer limit (default Infinity). */
  bufferMax?: number;
  /** Probe margin (default PROBE). */
  probe?: number;
}

export interface Allocation extends StepResult {
  /** Payment to each sink this step. */
  pay: Float64Array;
}

/** Convenience form for the keeper and the SDK: validates, allocates its own output. */
export function allocateBackpressure(input: BackpressureInput): Allocation {
  const { capacity, backlog, inflow } = input;
  const buffer = input.buffer ?? 0;
  const bufferMax = input.bufferMax ?? Infinity;
  const probe = input.probe ?? PROBE;
  checkArrays({ capacity, backlog });
  checkAmount('inflow', inflow);
  checkAmount('buffer', buffer);
  if (!(bufferMax >= 0)) throw new RangeError('bufferMax must be >= 0');
  if (!(probe >= 0 && Number.isFinite(probe))) throw new RangeError('probe must be a finite number >= 0');
  const pay = new Float64Array(capacity.length);
  const res = backpressureInto(capacity, backlog, inflow, buffer, bufferMax, pay, newStepResult(), probe);
  return { ...res, pay };
}
