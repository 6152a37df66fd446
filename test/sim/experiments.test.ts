import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RUNNERS, EXPERIMENTS, buildSummary, type SimConfig } from '../../src/sim/experiments/index.ts';
import { sybilGrid } from '../../src/sim/experiments/e3.ts';
import { toCsv } from '../../src/sim/csv.ts';
import { renderSvg } from '../../src/sim/plot.ts';
import { reportMarkdown } from '../../src/sim/report.ts';

const cfg: SimConfig = { seed: 2, steps: 200, sinks: 15, sources: 4, types: 2, alpha: 0.3, noise: 0.05 };

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
  it('splitting backs sqrt(n) times more capacity unless S/n < S_min', () => {
    const g = sybilGrid(1000, [1, 4, 10, 20], [100]);
    const byN = Object.fromEntries(g.map((r) => [r.identities, r]));
    assert.equal(byN[4].capacityGain, 2);
    assert.ok(byN[4].profitable);
    assert.equal(byN[10].capacityExact, 100); // 10 x isqrt(100)
    assert.equal(byN[20].eligible, false);
    assert.equal(byN[20].capacity, 0);
    assert.equal(byN[1].profitable, false);
  });
});
