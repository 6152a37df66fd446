/**
 * Queue-aware backpressure (SPEC section 3): the max-weight rule of Tassiulas–Ephremides in its fluid
 * (water-filling) form, fed by declared capacity and reported backlogs.
 *
 * Inputs per sink k (same money unit per step): declared capacity d_k (stake-capped, smoothed) and
 * reported backlog q_k (paid work not yet done). Per task type: this step's inflow R and the buffer
 * content B. The money to place is M = R + B (the buffer is re-offered every step, so it drains into
 * spare capacity as soon as there is any).
 *
 *  1. Spare first. spare_k = max(0, d_k - q_k). If M <= sum(spare), every spare is filled by the same
 *     fraction: `x_k = spare_k * M / sum(spare)` — no sink ever gets more than its spare, the buffer
 *     empties.
 *  2. Beyond spare, the buffer is a queue like the sinks' ones. Its level is B / sum(d) (steps of the
 *     total declared capacity), a sink's is q_k / d_k. Money is held in the buffer only while every
 *     sink's backlog exceeds the buffer's: it keeps `min(M - sum(spare), sum(d) * min_k(q_k / d_k))`.
 *     In particular nothing is held while any sink reports an empty queue.
 *  3. The rest goes to the sinks by water-filling to a common level (see waterFilling.ts):
 *     `x_k = max(0, m * d_k - q_k)`. Money above declared capacity is spread in proportion to
 *     declared capacity among the sinks with the least backlog — never per identity, so splitting a
 *     stake gains nothing extra — and a sink whose real capacity is below its declaration builds a
 *     backlog and stops receiving the excess: backlogs steer money to real spare capacity even when
 *     declarations are wrong.
 *  4. If the buffer would exceed bufferMax, the sources pause for the difference (`refused`).
 *
 * O(n) per call, no allocation with a caller-owned workspace and result record.
 */
import { newStepResult, type MutNumArray, type NumArray, type StepResult } from './types.ts';
import {
  createWorkspace,
  ensureWorkspace,
  fillSpareInto,
  fillToLevelInto,
  solveLevelFromSums,
  type Workspace,
} from './waterFilling.ts';
import { checkAmount, checkArrays } from './validate.ts';
import { holdInBuffer } from './bufferLimit.ts';

/**
 * Low-level form for hot loops: writes per-sink payments into `out` (same length as `declared`),
 * fills `res`, and returns it. `buffer` must be <= `bufferMax` for the refusal bound to hold.
 */
export function backpressureInto(
  declared: NumArray,
  backlog: NumArray,
  inflow: number,
  buffer: number,
  bufferMax: number,
  out: MutNumArray,
  res: StepResult,
  ws: Workspace,
): StepResult {
  const n = declared.length;
  const idx = ensureWorkspace(ws, n).idx;
  let cnt = 0;
  let spare = 0;
  let dAct = 0;
  let qAct = 0;
  let dAll = 0;
  let qAll = 0;
  let qMin = 1;
  let dMin = 0;
  for (let k = 0; k < n; k++) {
    const d = declared[k];
    if (!(d > 0)) continue;
    const q = backlog[k];
    dAll += d;
    qAll += q;
    if (q < d) {
      spare += d - q;
      dAct += d;
      qAct += q;
    } else idx[cnt++] = k;
    // lowest backlog level q / d, compared by cross-multiplication (no division per sink)
    if (q * dMin < qMin * d) {
      qMin = q;
      dMin = d;
    }
  }
  const lamMin = dMin > 0 ? qMin / dMin : Infinity;
  const money = inflow + buffer;
  res.spare = spare;
  if (money <= spare) {
    res.toSinks = fillSpareInto(declared, backlog, money, spare, out);
    res.buffer = 0;
    res.refused = 0;
    res.level = spare > 0 ? money / spare : 0;
    return res;
  }
  // Beyond spare. The buffer keeps what the sinks' backlogs say they have no room for.
  const excess = money - spare;
  holdInBuffer(res, dAll > 0 ? Math.min(excess, dAll * lamMin) : excess, inflow, bufferMax);
  const toSinks = money - res.refused - res.buffer;
  if (dAll > 0 && toSinks > 0) {
    const m = solveLevelFromSums(declared, backlog, toSinks, dAct, qAct, dAll, qAll, ws, cnt);
    res.toSinks = fillToLevelInto(declared, backlog, m, out);
    res.level = m;
  } else {
    for (let k = 0; k < n; k++) out[k] = 0;
    res.toSinks = 0;
    res.level = 0;
  }
  return res;
}

export interface BackpressureInput {
  /** Declared capacity per sink (stake-capped, smoothed), money per step. */
  declared: NumArray;
  /** Reported backlog per sink, same unit. */
  backlog: NumArray;
  /** New money this step (the sources' streams over one step). */
  inflow: number;
  /** Buffer content before the step (default 0). */
  buffer?: number;
  /** Buffer limit (default Infinity). */
  bufferMax?: number;
}

export interface Allocation extends StepResult {
  /** Payment to each sink this step. */
  pay: Float64Array;
}

/** Convenience form for the keeper and the SDK: validates, allocates its own output. */
export function allocateBackpressure(input: BackpressureInput): Allocation {
  const { declared, backlog, inflow } = input;
  const buffer = input.buffer ?? 0;
  const bufferMax = input.bufferMax ?? Infinity;
  checkArrays({ declared, backlog });
  checkAmount('inflow', inflow);
  checkAmount('buffer', buffer);
  if (!(bufferMax >= 0)) throw new RangeError('bufferMax must be >= 0');
  const pay = new Float64Array(declared.length);
  const res = backpressureInto(declared, backlog, inflow, buffer, bufferMax, pay, newStepResult(), createWorkspace(declared.length));
  return { ...res, pay };
}
