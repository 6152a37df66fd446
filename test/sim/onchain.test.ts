/**
 * The `onchain` strategy mirrors the contracts' rule: weight = CapacityMath.queueWeight, the sinks
 * absorb at most the summed weights (price 1 per step), the EscrowBuffer takes max(0, R - A) and
 * drains at most (A - R) x 1 step when R < A, in proportion to weight.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newStepResult, queueWeight, capacityProportionalInto } from '../../src/core/index.ts';
import { onchainInto, queueWeightFloat } from '../../src/sim/onchain.ts';
import { Rng } from '../../src/sim/rng.ts';
import { buildScenario, PAPER_SCENARIO } from '../../src/sim/scenario.ts';
import { Simulation } from '../../src/sim/engine.ts';

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

describe('onchain: queue-adjusted weight', () => {
  it('is the float form of core queueWeight (exact floor within one unit, gamma = 1 -> 10 000 bps)', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 2000; i++) {
      const c = Math.floor(rng.uniform() * 1e6);
      const q = i % 5 === 0 ? 0 : Math.floor(rng.uniform() * 1e7);
      const gammaBps = [0, 5000, 10_000, 25_000][i % 4];
      const exact = Number(queueWeight(BigInt(c), BigInt(q), BigInt(gammaBps)));
      const f = queueWeightFloat(c, q, gammaBps / 10_000);
      assert.ok(f >= exact - 1e-6 && f < exact + 1 + 1e-6, `C=${c} q=${q} g=${gammaBps}: ${f} vs ${exact}`);
    }
    assert.equal(queueWeightFloat(40, 0, 1), 40);
    assert.equal(queueWeightFloat(0, 30, 1), 0);
    assert.equal(queueWeightFloat(40, 40, 1), 20);
  });
});

describe('onchain: pool, buffer and drain', () => {
  const declared = [10, 20, 30];
  const backlog = [0, 20, 90];
  // weights 10, 20/2 = 10, 30/4 = 7.5 -> A = 27.5
  it('R >= A: each sink gets exactly its weight, the buffer keeps B + R - A (no drain)', () => {
    const out = new Float64Array(3);
    const res = onchainInto(declared, backlog, 1, 40, 5, Infinity, out, newStepResult());
    assert.deepEqual([...out], [10, 10, 7.5]);
    assert.equal(res.toSinks, 27.5);
    assert.equal(res.buffer, 5 + 40 - 27.5);
    assert.equal(res.refused, 0);
  });
  it('R < A: drains min(B, A - R) in proportion to weight', () => {
    const out = new Float64Array(3);
    let res = onchainInto(declared, backlog, 1, 20, 100, Infinity, out, newStepResult());
    assert.ok(Math.abs(res.toSinks - 27.5) < 1e-12); // drain capped at spare = 7.5
    assert.ok(Math.abs(res.buffer - 92.5) < 1e-12);
    res = onchainInto(declared, backlog, 1, 20, 3, Infinity, out, newStepResult());
    assert.ok(Math.abs(res.toSinks - 23) < 1e-12 && res.buffer === 0); // whole buffer fits
    const w = [10, 10, 7.5];
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(out[k] - (23 * w[k]) / 27.5) < 1e-12);
  });
  it('without backlog it is the former capacity-proportional overflow rule', () => {
    const a = new Float64Array(3);
    const b = new Float64Array(3);
    for (const [r, buf] of [[10, 0], [60, 4], [50, 30], [70, 1]]) {
      const ra = onchainInto(declared, [0, 0, 0], 1, r, buf, 100, a, newStepResult());
      const rb = capacityProportionalInto(declared, r, buf, 100, 60, b, newStepResult());
      assert.deepEqual([...a], [...b]);
      assert.equal(ra.buffer, rb.buffer);
      assert.equal(ra.refused, rb.refused);
    }
  });
  it('no weight: everything to the buffer; a full buffer makes the sources pause', () => {
    const out = new Float64Array(2);
    let res = onchainInto([0, 0], [0, 5], 1, 8, 2, Infinity, out, newStepResult());
    assert.deepEqual([res.toSinks, res.buffer, res.refused], [0, 10, 0]);
    res = onchainInto([4, 6], [0, 0], 1, 30, 15, 20, out, newStepResult());
    assert.equal(res.toSinks, 10);
    assert.equal(res.buffer, 20);
    assert.equal(res.refused, 15);
  });
});

describe('onchain in the engine', () => {
  it('never pays a sink more than its queue-adjusted declared capacity, conserves money, and the queue premium lowers weights', () => {
    const rng = new Rng(3);
    const sc = buildScenario({ ...PAPER_SCENARIO, sinks: 30, sources: 6 }, rng);
    const strategies = ['onchain'] as const;
    let prevBacklog = new Float64Array(sc.n);
    const sim = new Simulation(
      sc,
      {
        steps: 200,
        strategies,
        alpha: 0.3,
        noise: 0.05,
        bufferMax: 2000,
        beforeStep: (t, s) => {
          prevBacklog = Float64Array.from(s.backlog[0]);
          if (t % 50 >= 40) for (let i = 0; i < s.demand.length; i++) s.demand[i] *= 3;
        },
        afterStep: (_t, s) => {
          for (let i = 0; i < sc.n; i++) {
            const w = queueWeightFloat(s.declared[i], prevBacklog[i], 1);
            assert.ok(s.pay[0][i] <= w * (1 + 1e-12) + 1e-12, `sink ${i}: ${s.pay[0][i]} > ${w}`);
          }
        },
      },
      rng,
    );
    const run = sim.run();
    const s = run.series[0];
    assert.ok(s.maxConservationError <= 1e-9);
    assert.ok(sum(s.buffer) > 0);
  });
  it('rejects a negative gamma', () => {
    const sc = buildScenario({ ...PAPER_SCENARIO, sinks: 6, sources: 3 }, new Rng(1));
    assert.throws(() => new Simulation(sc, { steps: 10, strategies: ['onchain'], alpha: 0.3, noise: 0.05, bufferMax: 1, gamma: -1 }, new Rng(1)), RangeError);
  });
});
