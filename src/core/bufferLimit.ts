import type { StepResult } from './types.ts';

/**
 * Puts `hold` in the buffer, up to `bufferMax`: beyond it the sources pause for the difference
 * (never more than this step's inflow: money already buffered stays). Writes `res.buffer` and
 * `res.refused`. One rule for every strategy, as EscrowBuffer's saturation signal is one signal.
 */
export function holdInBuffer(res: StepResult, hold: number, inflow: number, bufferMax: number): void {
  let refused = 0;
  if (hold > bufferMax) {
    refused = Math.min(inflow, hold - bufferMax);
    hold -= refused;
  }
  res.buffer = hold;
  res.refused = refused;
}

/**
 * Pays `min(inflow + buffer, room)` to the sinks in proportion to `out` (each sink's room on entry,
 * its payment on return; `room` is their sum) and holds the rest with `holdInBuffer`. Writes every
 * field of `res`; `res.level` is the share of each sink's room that was paid.
 */
export function payWithinRoom(
  out: { [k: number]: number; readonly length: number },
  room: number,
  inflow: number,
  buffer: number,
  bufferMax: number,
  res: StepResult,
): StepResult {
  const money = inflow + buffer;
  const paid = room > 0 ? (money < room ? money : room) : 0;
  const f = room > 0 ? paid / room : 0;
  let sum = 0;
  for (let k = 0; k < out.length; k++) {
    const x = out[k] * f;
    out[k] = x;
    sum += x;
  }
  holdInBuffer(res, money - paid, inflow, bufferMax);
  res.toSinks = sum;
  res.spare = room;
  res.level = f;
  return res;
}
