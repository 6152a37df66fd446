import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/sim/rng.ts';
import { buildScenario, makeScenario, PAPER_SCENARIO } from '../../src/sim/scenario.ts';
import { simulate } from '../../src/sim/engine.ts';
import { STRATEGIES } from '../../src/sim/strategies.ts';
import { ledgerError } from '../../src/sim/experiments/common.ts';

const small = { ...PAPER_SCENARIO, sinks: 30, sources: 6 };

function runSmall(seed: number, bufferMax = Infinity, spikes = false) {
  const rng = new Rng(seed);
  const sc = buildScenario(small, rng);
  return simulate(
    sc,
    {
      steps: 300,
      strategies: STRATEGIES,
      alpha: 0.3,
      noise: 0.05,
      bufferMax,
      beforeStep: spikes ? (t, sim) => { if (t % 50 >= 40) for (let i = 0; i < sim.demand.length; i++) sim.demand[i] *= 3; } : undefined,
    },
    rng,
  );
}

describe('scenario layout', () => {
  it('groups sinks by type in contiguous ranges and keeps their ids', () => {
    const sc = makeScenario(
      [
        { capacity: 1, stake: 400, type: 1 },
        { capacity: 2, stake: 100, type: 0 },
        { capacity: 3, stake: 50, type: 1 },
      ],
      [{ rate: 5, type: 1 }],
      2,
      100,
      1,
    );
    assert.deepEqual([...sc.typeStart], [0, 1, 3]);
    assert.deepEqual([...sc.sinkId], [1, 0, 2]);
    assert.deepEqual([...sc.capacity], [2, 1, 3]);
    assert.deepEqual([...sc.cap], [10, 20, 0]);
    assert.deepEqual([...sc.baseDemand], [0, 5]);
  });
  it('draws the paper scenario: type i mod 3, capacities and stakes in range', () => {
    const sc = buildScenario(PAPER_SCENARIO, new Rng(1));
    assert.equal(sc.n, 50);
    assert.deepEqual([...sc.typeStart], [0, 17, 34, 50]);
    for (let i = 0; i < sc.n; i++) {
      assert.ok(sc.capacity[i] > 10 && sc.capacity[i] < 100);
      assert.ok(sc.stake[i] > 100 && sc.stake[i] < 1000);
      assert.ok(Math.abs(sc.cap[i] - Math.sqrt(sc.stake[i])) < 1e-12);
    }
  });
});

describe('engine', () => {
  it('conserves money in every strategy, with and without a bounded buffer and demand spikes', () => {
    for (const [bufferMax, spikes] of [[Infinity, false], [0, true], [500, true]] as const) {
      const run = runSmall(5, bufferMax, spikes);
      for (const s of run.series) {
        assert.ok(s.maxConservationError <= 1e-9, `${s.name}: ${s.maxConservationError}`);
        assert.ok(ledgerError(s) < 1e-9, `${s.name} ledger ${ledgerError(s)}`);
        for (let t = 0; t < run.steps; t++) {
          assert.ok(s.backlog[t] >= 0 && s.buffer[t] >= 0 && s.refused[t] >= 0);
          // the series holds the total over the types; each type's buffer is bounded by bufferMax
          assert.ok(s.buffer[t] <= run.types * bufferMax * (1 + 1e-12) + 1e-9, `${s.name} buffer ${s.buffer[t]} > ${bufferMax}`);
          assert.ok(s.eta[t] >= 0 && s.eta[t] <= 1 + 1e-12);
          assert.ok(Math.abs(s.paid[t] - s.productive[t] - s.wasted[t]) < 1e-9 * Math.max(1, s.paid[t]));
        }
      }
    }
  });
  it('is deterministic: the same seed gives identical series', () => {
    const a = runSmall(9);
    const b = runSmall(9);
    for (let k = 0; k < a.series.length; k++) {
      assert.deepEqual(a.series[k].eta, b.series[k].eta);
      assert.deepEqual(a.series[k].backlog, b.series[k].backlog);
    }
    const c = runSmall(10);
    assert.notDeepEqual(a.series[0].eta, c.series[0].eta);
  });
  it('the oracle wastes nothing when demand fits; backpressure comes close', () => {
    const run = runSmall(3);
    const opt = run.series.find((s) => s.name === 'optimal')!;
    const bp = run.series.find((s) => s.name === 'backpressure')!;
    for (let t = 0; t < run.steps; t++) assert.equal(opt.wasted[t], 0);
    let eta = 0;
    for (let t = 200; t < 300; t++) eta += bp.eta[t];
    assert.ok(eta / 100 > 0.99, `backpressure eta ${eta / 100}`);
  });
  it('scales to many sinks without per-step allocation (a quick 20 000-sink run)', () => {
    const rng = new Rng(1);
    const sc = buildScenario({ ...PAPER_SCENARIO, sinks: 20_000, sources: 4000 }, rng);
    const run = simulate(sc, { steps: 20, strategies: ['backpressure'], alpha: 0.3, noise: 0.05, bufferMax: Infinity }, rng);
    assert.ok(run.series[0].eta[19] > 0.98);
  });
});
