import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RUNNERS, EXPERIMENTS, DEFAULT_CONFIG, buildSummary, type SimConfig } from '../../src/sim/experiments/index.ts';
import { linearStakeFor, sinksBoundByCap, sybilGrid } from '../../src/sim/experiments/e3.ts';
import { truthfulness, OVER_DECLARATIONS, HONEST_LOSS_LIMIT } from '../../src/sim/experiments/e8.ts';
import { toCsv } from '../../src/sim/csv.ts';
import { renderSvg } from '../../src/sim/plot.ts';
import { reportMarkdown } from '../../src/sim/report.ts';

const cfg: SimConfig = { ...DEFAULT_CONFIG, seed: 2, steps: 200, sinks: 15, sources: 4, types: 2 };

describe('experiments (small configuration)', () => {
  const outputs = EXPERIMENTS.map((id) => RUNNERS[id](cfg));
  it('each produces a summary, a CSV with a header and rows, plots and a report section', () => {
    for (const o of outputs) {
      assert.ok(Object.keys(o.summary).length > 0, o.id);
      const csv = toCsv(o.csv);
      const lines = csv.trimEnd().split('\n');
      assert.ok(lines.length > 1, o.id);
      const width = lines[0].split(',').length;
      assert.ok(lines.every((l) => l.split(',').length === width), `${o.id}: ragged CSV`);
      assert.ok(o.plots.length >= 1 && o.markdown.length > 0);
    }
  });
  it('E1 summary has per-strategy efficiency, servedRatio, maxBufferLevel, convergenceSteps', () => {
    const s = outputs[0].summary.strategies as Record<string, Record<string, unknown>>;
    for (const name of ['proportional', 'onchain', 'round-robin', 'random', 'backpressure', 'optimal']) {
      for (const k of ['efficiency', 'servedRatio', 'maxBufferLevel', 'convergenceSteps']) assert.ok(k in s[name], `${name}.${k}`);
    }
  });
  it('E2 has recoverySteps per strategy; E5 stallRate and efficiency per buffer size', () => {
    const e2 = outputs[1].summary.strategies as Record<string, Record<string, unknown>>;
    assert.ok('recoverySteps' in e2.backpressure);
    const e5 = outputs[4].summary as { stallRate: Record<string, number>; efficiency: Record<string, number> };
    assert.deepEqual(Object.keys(e5.stallRate), ['0.0', '0.1', '0.5', '1.0']);
    assert.deepEqual(Object.keys(e5.efficiency), ['0.0', '0.1', '0.5', '1.0']);
    // a bigger buffer never stalls more
    const r = Object.values(e5.stallRate);
    for (let i = 1; i < r.length; i++) assert.ok(r[i] <= r[i - 1] + 1e-12);
  });
  it('the report embeds every plot and lists the claims', () => {
    const md = reportMarkdown(cfg, 'all', outputs, buildSummary(cfg, outputs));
    for (const o of outputs) for (const p of o.plots) assert.ok(md.includes(`](${p.file})`), p.file);
    assert.ok(md.includes("Where the seeds' claims hold"));
  });
  it('plots render to standalone SVG without remote resources', async () => {
    const svg = await renderSvg(outputs[0].plots[0].spec);
    assert.ok(svg.startsWith('<svg'));
    assert.ok(!/(href|src)="https?:/.test(svg));
  });
});

describe('E3 Sybil grid (honest accounting)', () => {
  it('sqrt: splitting backs sqrt(n) times more capacity unless S/n < S_min', () => {
    const g = sybilGrid('sqrt', 1000, [1, 4, 10, 20], [100]);
    const byN = Object.fromEntries(g.map((r) => [r.identities, r]));
    assert.equal(byN[4].capacityGain, 2);
    assert.ok(byN[4].profitable);
    assert.equal(byN[10].capacityExact, 100); // 10 x isqrt(100)
    assert.equal(byN[20].eligible, false);
    assert.equal(byN[20].capacity, 0);
    assert.equal(byN[1].profitable, false);
  });
});

describe('E3 under the linear cap', () => {
  it('splitting gains nothing (gain <= 1, exact caps included) and identities below S_min cannot register', () => {
    const g = sybilGrid('linear', 1000, [1, 2, 5, 10, 20], [50, 100, 200]);
    for (const r of g) {
      assert.ok(r.capacityGain <= 1 + 1e-12, `${r.identities}: ${r.capacityGain}`);
      assert.ok(r.capacityExact <= 333);
      if (r.identityStake < r.minStake) assert.equal(r.capacity, 0);
      assert.equal(r.profitable, false);
    }
  });
  it('with a minimum stake per identity, splitting needs strictly more stake for the same capacity', () => {
    assert.equal(linearStakeFor(100, 1, 100), 300);
    assert.equal(linearStakeFor(100, 2, 100), 300);
    assert.equal(linearStakeFor(100, 5, 100), 500);
    assert.equal(linearStakeFor(100, 20, 100), 2000);
  });
  it('binds no honest sink of the default scenario; the seeds\' sqrt cap binds most', () => {
    const c = { ...DEFAULT_CONFIG };
    assert.equal(sinksBoundByCap(c, 'linear'), 0);
    assert.equal(sinksBoundByCap(c, 'sqrt'), 42);
  });
});

describe('E8 truthfulness (verification rules)', () => {
  const r = truthfulness(1, 0.05);
  it('every over-declaration (+10 %, +25 %, +100 %, +400 %) loses money under the shortfall penalty', () => {
    assert.deepEqual(r.liars.map((l) => l.overDeclaration), [...OVER_DECLARATIONS]);
    for (const l of r.liars) assert.ok(l.shortfallProfit < 0, `+${l.overDeclaration}: ${l.shortfallProfit}`);
  });
  it("every over-declaration pays under the seeds' strike rule", () => {
    for (const l of r.liars) assert.ok(l.strikeProfit > 0, `+${l.overDeclaration}: ${l.strikeProfit}`);
    assert.equal(r.liars[0].strikeSlashedSeeds, 0);
  });
  it('the default constants (6 % tolerance, factor 3) cost an honest sink with 5 % capacity noise under 1 % of its revenue', () => {
    assert.ok(r.honestLoss < HONEST_LOSS_LIMIT && Math.abs(r.honestLoss - 0.0085) < 0.0005, String(r.honestLoss));
  });
  it('a 5 % tolerance at factor 3 would cost it 1.25 % (over the 1 % target), though every lie would still lose', () => {
    const alt = truthfulness(1, 0.05, { toleranceBps: 500, factorBps: 30_000 });
    assert.ok(alt.honestLoss > HONEST_LOSS_LIMIT && Math.abs(alt.honestLoss - 0.0125) < 0.0005, String(alt.honestLoss));
    for (const l of alt.liars) assert.ok(l.shortfallProfit < 0);
  });
});
