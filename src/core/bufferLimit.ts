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
