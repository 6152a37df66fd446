/**
 * `npm run bench:sim`: simulator throughput and the wall time of `bpe sim all`, as ONE JSON object
 * on stdout.
 *
 *  - sinkStepsPerSecond: sinks x steps / seconds of the engine's step loop, one strategy
 *    (backpressure), paper-scenario proportions (sources = sinks / 5, 3 task types), best of several
 *    timed batches: 8 batches of 40 runs of 50 sinks x 1000 steps (fresh seed per run), 5 runs of
 *    5000 x 1000, 3 runs of 1,000,000 x 100.
 *  - allExperimentsSeconds: wall time of `bpe sim all --seed 1 --out <tmp>` (a fresh process: startup,
 *    every experiment, CSV, plots, report), plus the headline numbers of that run and the targets.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/sim/rng.ts';
import { buildScenario, PAPER_SCENARIO } from '../src/sim/scenario.ts';
import { simulate } from '../src/sim/engine.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tty = process.stderr.isTTY;
const say = (msg: string) => {
  if (tty) process.stderr.write(`bench:sim: ${msg}\n`);
};

function timeRun(sinks: number, steps: number, seed: number): { seconds: number; eta: number } {
  const rng = new Rng(seed);
  const scenario = buildScenario({ ...PAPER_SCENARIO, sinks, sources: Math.max(3, Math.round(sinks / 5)) }, rng);
  const t0 = process.hrtime.bigint();
  const run = simulate(scenario, { steps, strategies: ['backpressure'], alpha: 0.3, noise: 0.05, bufferMax: Infinity }, rng);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, eta: run.series[0].eta[steps - 1] };
}

/**
 * Rates of `batches` timed batches of `perBatch` runs each (fresh seed per run). Other processes may
 * share the cores, so the headline is the best batch; every batch rate is reported too.
 */
function throughput(sinks: number, steps: number, perBatch: number, batches: number): { rate: number; steps: number; runsPerBatch: number; batchRates: number[] } {
  const rates: number[] = [];
  let seed = 1;
  for (let b = 0; b < batches; b++) {
    let seconds = 0;
    for (let r = 0; r < perBatch; r++) seconds += timeRun(sinks, steps, seed++).seconds;
    rates.push(Math.round((sinks * steps * perBatch) / seconds));
  }
  return { rate: Math.max(...rates), steps, runsPerBatch: perBatch, batchRates: rates };
}

// Warm the JIT on the same code paths before timing.
timeRun(500, 400, 99);
timeRun(50, 1000, 98);

say('50 sinks');
const t50 = throughput(50, 1000, 40, 8);
say('5000 sinks');
const t5k = throughput(5000, 1000, 1, 5);
say('1,000,000 sinks');
const t1m = throughput(1_000_000, 100, 1, 3);
const rssAfter1m = process.memoryUsage().rss;

say('bpe sim all');
const out = mkdtempSync(join(tmpdir(), 'bpe-bench-sim-'));
const t0 = process.hrtime.bigint();
const r = spawnSync(process.execPath, [join(ROOT, 'bin/bpe.js'), 'sim', 'all', '--seed', '1', '--out', out], { encoding: 'utf8' });
const allSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
if (r.status !== 0) {
  process.stderr.write(r.stderr);
  throw new Error(`bpe sim all failed with exit code ${r.status}`);
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as any;
rmSync(out, { recursive: true, force: true });

const e1 = summary.experiments.e1;
const bp = e1.strategies.backpressure;
const e2 = summary.experiments.e2.strategies.backpressure;
const e5 = summary.experiments.e5.stallRate as Record<string, number>;
const minRate = Math.min(t50.rate, t5k.rate, t1m.rate);

const result = {
  sinkStepsPerSecond: { '50': t50.rate, '5000': t5k.rate, '1000000': t1m.rate },
  allExperimentsSeconds: Number(allSeconds.toFixed(3)),
  strategy: 'backpressure',
  method: 'sink-steps per second of the step loop, best of several timed batches (other processes may share the cores)',
  runs: { '50': t50, '5000': t5k, '1000000': t1m },
  scalingRatio1mTo5000: Number((t1m.rate / t5k.rate).toFixed(3)),
  rssMegabytesAfter1m: Math.round(rssAfter1m / 2 ** 20),
  paperScenario: {
    seed: 1,
    efficiency: Object.fromEntries(Object.entries(e1.strategies).map(([k, v]) => [k, (v as { efficiency: number }).efficiency])),
    servedRatio: Object.fromEntries(Object.entries(e1.strategies).map(([k, v]) => [k, (v as { servedRatio: number }).servedRatio])),
    efficiencyAcrossSeeds: e1.acrossSeeds
      ? Object.fromEntries(Object.entries(e1.acrossSeeds.strategies).map(([k, v]) => [k, (v as { efficiency: unknown }).efficiency]))
      : null,
    e2RecoverySteps: Object.fromEntries(Object.entries(summary.experiments.e2.strategies).map(([k, v]) => [k, (v as { recoverySteps: number | null }).recoverySteps])),
    e5BackpressureStallRate: e5,
  },
  targets: {
    backpressureEtaAndSigmaAtLeast0995AtSeed1: { eta: bp.efficiency, sigma: bp.servedRatio, maxBufferLevel: bp.maxBufferLevel, met: bp.efficiency >= 0.995 && bp.servedRatio >= 0.995 },
    e2BackpressureRecoveryAtMost5Steps: { steps: e2.recoverySteps, met: e2.recoverySteps !== null && e2.recoverySteps <= 5 },
    e5NoStallAtHalfLambdaOrMore: { stallRate: { '0.5': e5['0.5'], '1.0': e5['1.0'] }, met: e5['0.5'] === 0 && e5['1.0'] === 0 },
    atLeast20MillionSinkStepsPerSecond: { min: minRate, met: minRate >= 20_000_000 },
  },
  machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' },
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
