/**
 * Golden numbers: E1 on the paper scenario with seed 1 (1000 steps, 50 sinks). Any change to the
 * generator, the draw order, the scenario or a strategy moves them; update them only deliberately.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runE1 } from '../../src/sim/experiments/e1.ts';
import { DEFAULT_CONFIG } from '../../src/sim/experiments/types.ts';

const GOLDEN: Record<string, { efficiency: number; servedRatio: number; maxBufferLevel: number; convergenceSteps: number | null }> = {
  proportional: { efficiency: 0.968426, servedRatio: 0.968426, maxBufferLevel: 0, convergenceSteps: 0 },
  onchain: { efficiency: 0.999558, servedRatio: 0.856489, maxBufferLevel: 169123.349, convergenceSteps: 0 },
  'round-robin': { efficiency: 0.937022, servedRatio: 0.937022, maxBufferLevel: 0, convergenceSteps: null },
  random: { efficiency: 0.8152, servedRatio: 0.8152, maxBufferLevel: 0, convergenceSteps: null },
  backpressure: { efficiency: 0.9991, servedRatio: 0.9991, maxBufferLevel: 0, convergenceSteps: 0 },
  optimal: { efficiency: 1, servedRatio: 1, maxBufferLevel: 0, convergenceSteps: 0 },
};

describe('E1 golden numbers (seed 1, paper scenario)', () => {
  const out = runE1({ ...DEFAULT_CONFIG });
  const s = out.summary.strategies as Record<string, Record<string, number | null>>;
  for (const [name, want] of Object.entries(GOLDEN)) {
    it(name, () => {
      assert.deepEqual(
        { efficiency: s[name].efficiency, servedRatio: s[name].servedRatio, maxBufferLevel: s[name].maxBufferLevel, convergenceSteps: s[name].convergenceSteps },
        want,
      );
    });
  }
  it('backpressure meets the paper-scenario target (eta and sigma >= 0.998)', () => {
    assert.ok((s.backpressure.efficiency ?? 0) >= 0.998 && (s.backpressure.servedRatio ?? 0) >= 0.998);
  });
});
