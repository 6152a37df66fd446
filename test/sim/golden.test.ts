/**
 * Golden numbers: E1 with seed 1 (1000 steps, 50 sinks), under the default linear cap and the seeds'
 * sqrt cap. Any change to the generator, the draw order, the scenario, a strategy or a metric moves
 * them; update them only deliberately.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runE1 } from '../../src/sim/experiments/e1.ts';
import { DEFAULT_CONFIG } from '../../src/sim/experiments/types.ts';

type Row = { efficiency: number; servedRatio: number; maxBufferLevel: number; convergenceSteps: number | null };

const GOLDEN: Record<'linear' | 'sqrt', Record<string, Row>> = {
  linear: {
    proportional: { efficiency: 1, servedRatio: 1, maxBufferLevel: 0, convergenceSteps: 0 },
    onchain: { efficiency: 1, servedRatio: 1, maxBufferLevel: 367.473, convergenceSteps: 4 },
    'round-robin': { efficiency: 0.937022, servedRatio: 0.937022, maxBufferLevel: 0, convergenceSteps: null },
    random: { efficiency: 0.825324, servedRatio: 0.825324, maxBufferLevel: 0, convergenceSteps: null },
    backpressure: { efficiency: 1, servedRatio: 1, maxBufferLevel: 327.362, convergenceSteps: 3 },
    optimal: { efficiency: 1, servedRatio: 1, maxBufferLevel: 0, convergenceSteps: 0 },
  },
  sqrt: {
    proportional: { efficiency: 0.968845, servedRatio: 0.968845, maxBufferLevel: 0, convergenceSteps: null },
    onchain: { efficiency: 0.999654, servedRatio: 0.510468, maxBufferLevel: 169144.627, convergenceSteps: null },
    'round-robin': { efficiency: 0.937022, servedRatio: 0.937022, maxBufferLevel: 0, convergenceSteps: null },
    random: { efficiency: 0.825324, servedRatio: 0.825324, maxBufferLevel: 0, convergenceSteps: null },
    backpressure: { efficiency: 1, servedRatio: 1, maxBufferLevel: 2996.261, convergenceSteps: null },
    optimal: { efficiency: 1, servedRatio: 1, maxBufferLevel: 0, convergenceSteps: 0 },
  },
};

for (const cap of ['linear', 'sqrt'] as const) {
  describe(`E1 golden numbers (seed 1, paper scenario, ${cap} cap)`, () => {
    const out = runE1({ ...DEFAULT_CONFIG, cap });
    const s = out.summary.strategies as Record<string, Record<string, number | null>>;
    for (const [name, want] of Object.entries(GOLDEN[cap])) {
      it(name, () => {
        assert.deepEqual(
          { efficiency: s[name].efficiency, servedRatio: s[name].servedRatio, maxBufferLevel: s[name].maxBufferLevel, convergenceSteps: s[name].convergenceSteps },
          want,
        );
      });
    }
  });
}
