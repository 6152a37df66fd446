import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/sim/rng.ts';
import { buildScenario, LIAR_FACTOR, makeScenario, PAPER_SCENARIO, STAKE_PER_TASK } from '../../src/sim/scenario.ts';
import { efficiency, servedRatio } from '../../src/sim/metrics.ts';
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
      'sqrt',
      100,
      1,
    );
    assert.deepEqual([...sc.typeStart], [0, 1, 3]);
    assert.deepEqual([...sc.sinkId], [1, 0, 2]);
    assert.deepEqual([...sc.capacity], [2, 1, 3]);
    assert.deepEqual([...sc.cap], [10, 20, 0]);
    assert.deepEqual([...sc.baseDemand], [0, 5]);
  });
  it("draws the seeds' scenario under the sqrt cap: stakes U(100, 1000), cap sqrt(stake)", () => {
    const sc = buildScenario({ ...PAPER_SCENARIO, capRule: 'sqrt' }, new Rng(1));
    assert.equal(sc.n, 50);
    assert.deepEqual([...sc.typeStart], [0, 17, 34, 50]);
    for (let i = 0; i < sc.n; i++) {
      assert.ok(sc.capacity[i] > 10 && sc.capacity[i] < 100);
      assert.ok(sc.stake[i] > 100 && sc.stake[i] < 1000);
      assert.ok(Math.abs(sc.cap[i] - Math.sqrt(sc.stake[i])) < 1e-12);
    }
  });
  it('draws covering stakes under the linear cap (default): the cap never binds an honest sink', () => {
    const sc = buildScenario(PAPER_SCENARIO, new Rng(1));
    for (let i = 0; i < sc.n; i++) {
      assert.ok(sc.stake[i] >= Math.max(100, STAKE_PER_TASK * sc.capacity[i]) && sc.stake[i] <= Math.max(100, 2 * STAKE_PER_TASK * sc.capacity[i]));
      assert.ok(Math.abs(sc.cap[i] - sc.stake[i] / STAKE_PER_TASK) < 1e-9);
      assert.ok(sc.cap[i] >= sc.capacity[i]);
    }
  });
  it('scales demand to --load x true capacity in every type, and draws the liars', () => {
    const sc = buildScenario({ ...PAPER_SCENARIO, load: 1.2, liars: 0.2 }, new Rng(3));
    for (let t = 0; t < sc.types; t++) {
      let c = 0;
      for (let i = sc.typeStart[t]; i < sc.typeStart[t + 1]; i++) c += sc.capacity[i];
      assert.ok(Math.abs(sc.baseDemand[t] - 1.2 * c) < 1e-9 * c);
    }
    let liars = 0;
    for (let i = 0; i < sc.n; i++) {
      if (sc.hidesBacklog[i] === 1) {
        liars++;
        assert.equal(sc.declareFactor[i], LIAR_FACTOR);
        assert.ok(sc.cap[i] >= LIAR_FACTOR * sc.capacity[i]);
      } else assert.equal(sc.declareFactor[i], 1);
    }
    assert.equal(liars, 10);
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
          assert.ok(s.paid[t] === 0 ? Number.isNaN(s.eta[t]) : s.eta[t] >= 0 && s.eta[t] <= 1 + 1e-12);
          // sigma's denominator counts the money the strategy holds: productive <= feasible every step
          assert.ok(s.productive[t] <= s.feasible[t] * (1 + 1e-12) + 1e-9, `${s.name} step ${t}: productive ${s.productive[t]} > feasible ${s.feasible[t]}`);
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
    assert.notDeepEqual(a.series[0].paid, c.series[0].paid);
  });
  it('the oracle wastes nothing when demand fits; backpressure comes close', () => {
    const run = runSmall(3);
    const opt = run.series.find((s) => s.name === 'optimal')!;
    const bp = run.series.find((s) => s.name === 'backpressure')!;
    for (let t = 0; t < run.steps; t++) assert.equal(opt.wasted[t], 0);
    assert.ok(efficiency(bp, 200, 300) > 0.99, `backpressure eta ${efficiency(bp, 200, 300)}`);
  });
  it('scales to many sinks without per-step allocation (a quick 20 000-sink run)', () => {
    const rng = new Rng(1);
    const sc = buildScenario({ ...PAPER_SCENARIO, sinks: 20_000, sources: 4000 }, rng);
    const run = simulate(sc, { steps: 20, strategies: ['backpressure'], alpha: 0.3, noise: 0.05, bufferMax: Infinity }, rng);
    assert.ok(run.series[0].eta[19] > 0.98);
  });
  it('signal noise and the random strategy use separate streams: dropping random changes nobody else', () => {
    const sc = () => buildScenario(small, new Rng(4));
    const opts = { steps: 100, alpha: 0.3, noise: 0.05, bufferMax: Infinity };
    const withRandom = simulate(sc(), { ...opts, strategies: ['proportional', 'random', 'backpressure'] }, new Rng(4));
    const without = simulate(sc(), { ...opts, strategies: ['proportional', 'backpressure'] }, new Rng(4));
    assert.deepEqual(withRandom.series[0].eta, without.series[0].eta);
    assert.deepEqual(withRandom.series[2].paid, without.series[1].paid);
  });
});

describe('metric definitions', () => {
  const series = (productive: number[], paid: number[], feasible: number[]) => ({ productive, paid, feasible });
  it('eta is productive over total pay: a step that pays nothing adds nothing (it is not 1)', () => {
    assert.equal(efficiency(series([0, 9], [0, 10], [10, 10])), 0.9);
    assert.ok(Number.isNaN(efficiency(series([0, 0], [0, 0], [10, 10]))));
  });
  it('sigma is productive over what was feasible with the money held, so it stays <= 1 in every strategy', () => {
    assert.equal(servedRatio(series([5, 10], [5, 10], [10, 10])), 0.75);
    for (const spikes of [false, true]) {
      const run = runSmall(11, 200, spikes);
      for (const s of run.series) {
        const sg = servedRatio(s);
        assert.ok(sg <= 1 + 1e-12, `${s.name}: sigma ${sg}`);
        for (let from = 0; from < run.steps; from += 50) assert.ok(servedRatio(s, from, from + 50) <= 1 + 1e-12);
      }
    }
  });
});
