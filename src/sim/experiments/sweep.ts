/**
 * `bpe sim sweep <e1|e2|e5> --seeds A..B`: one experiment over many seeds, every strategy, reduced to
 * the numbers the targets are judged on (minimum and mean over seeds, never one seed's draw).
 *
 *  - e1: eta and sigma of the last TAIL steps (the E1 definition) and of the whole run (cold start
 *    included), the convergence step of the allocation.
 *  - e2: eta and sigma after the shock (last 100 steps) and the recovery steps; seeds whose post-shock
 *    demand exceeds post-shock capacity in some type are counted as `infeasible`, not as failures.
 *  - e5: stall rate, eta and sigma over the whole run at one buffer size (`--buffer-max`, default
 *    0.5 Lambda); seeds where even `optimal` stalls (the spike overflow exceeds the buffer, so any rule
 *    that pays only for work a sink can do must pause) are counted as `infeasible`.
 *
 * Every strategy also counts the seeds where it falls below `proportional` on eta or sigma.
 */
import type { RunResult, StrategySeries } from '../engine.ts';
import { efficiency, firstSustained, round, servedRatio, sum } from '../metrics.ts';
import { STRATEGIES } from '../strategies.ts';
import { byName } from './common.ts';
import { CONVERGENCE_TOL, CONVERGENCE_WINDOW, runOnce, TAIL } from './e1.ts';
import { recoverySteps, shockRun } from './e2.ts';
import { spikeRun } from './e5.ts';
import type { SimConfig } from './types.ts';

export const SWEEP_EXPERIMENTS = ['e1', 'e2', 'e5'] as const;
export type SweepExperiment = (typeof SWEEP_EXPERIMENTS)[number];
/** E5's buffer size in a sweep unless `--buffer-max` says otherwise (the target's threshold). */
export const SWEEP_E5_BUFFER = 0.5;

interface MinMean {
  min: number;
  mean: number;
}

export interface SweepStrategy {
  efficiency: MinMean;
  servedRatio: MinMean;
  efficiencyWholeRun?: MinMean;
  servedRatioWholeRun?: MinMean;
  convergenceSteps?: { max: number | null; failures: number };
  recoverySteps?: { max: number | null; failures: number };
  /** Over all seeds; `seeds` = how many stalled at all, `feasibleSeeds` = of those, where optimal did not. */
  stallRate?: { max: number; mean: number; seeds: number; feasibleSeeds: number };
  /** Seeds where this strategy's eta / sigma is below proportional's (by more than 1e-9). */
  belowProportional: { efficiency: number; servedRatio: number };
}

export interface SweepResult {
  experiment: SweepExperiment;
  seeds: [number, number];
  params: Record<string, unknown>;
  /** Seeds excluded from the recovery (e2) or stall (e5) target because no rule can meet it there. */
  infeasible?: number;
  infeasibleSeeds?: number[];
  strategies: Record<string, SweepStrategy>;
}

/** Per seed and strategy: the measured values (NaN / null where they do not apply). */
interface Sample {
  eta: number;
  sigma: number;
  etaAll?: number;
  sigmaAll?: number;
  steps?: number | null;
  stall?: number;
}

function measureE1(cfg: SimConfig): { samples: Map<string, Sample>; infeasible: boolean } {
  const run = runOnce(cfg);
  const from = Math.max(0, cfg.steps - TAIL);
  const samples = new Map<string, Sample>();
  for (const s of run.series) {
    samples.set(s.name, {
      eta: efficiency(s, from, cfg.steps),
      sigma: servedRatio(s, from, cfg.steps),
      etaAll: efficiency(s),
      sigmaAll: servedRatio(s),
      steps: firstSustained(cfg.steps, 0, CONVERGENCE_WINDOW, (t) => s.distance[t] <= CONVERGENCE_TOL),
    });
  }
  return { samples, infeasible: false };
}

function measureE2(cfg: SimConfig): { samples: Map<string, Sample>; infeasible: boolean } {
  const { run, shockAt, feasible } = shockRun(cfg);
  const from = Math.max(shockAt, cfg.steps - TAIL);
  const opt = byName(run, 'optimal');
  const samples = new Map<string, Sample>();
  for (const s of run.series) {
    samples.set(s.name, { eta: efficiency(s, from, cfg.steps), sigma: servedRatio(s, from, cfg.steps), steps: recoverySteps(s, opt, shockAt) });
  }
  return { samples, infeasible: !feasible };
}

function stallRate(s: StrategySeries, run: RunResult): number {
  return sum(s.stalls) / (run.types * run.steps);
}

function measureE5(cfg: SimConfig): { samples: Map<string, Sample>; infeasible: boolean } {
  const { run } = spikeRun(cfg, cfg.bufferMax ?? SWEEP_E5_BUFFER);
  const samples = new Map<string, Sample>();
  for (const s of run.series) samples.set(s.name, { eta: efficiency(s), sigma: servedRatio(s), stall: stallRate(s, run) });
  return { samples, infeasible: stallRate(byName(run, 'optimal'), run) > 0 };
}

const MEASURE: Record<SweepExperiment, (cfg: SimConfig) => { samples: Map<string, Sample>; infeasible: boolean }> = {
  e1: measureE1,
  e2: measureE2,
  e5: measureE5,
};

function minMean(xs: number[]): MinMean {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return { min: NaN, mean: NaN };
  return { min: round(Math.min(...ok)), mean: round(ok.reduce((a, b) => a + b, 0) / ok.length) };
}

/** Max of the step counts and the number of (counted) seeds where it never happened. */
function stepStats(xs: (number | null | undefined)[]): { max: number | null; failures: number } {
  const failures = xs.filter((x) => x === null).length;
  const ok = xs.filter((x): x is number => typeof x === 'number');
  return { max: ok.length > 0 ? Math.max(...ok) : null, failures };
}

/** Runs `experiment` for seeds first..last (inclusive) with the rest of `cfg`. */
export function runSweep(experiment: SweepExperiment, cfg: SimConfig, first: number, last: number): SweepResult {
  const perSeed: { seed: number; samples: Map<string, Sample>; infeasible: boolean }[] = [];
  const total = last - first + 1;
  for (let seed = first; seed <= last; seed++) {
    perSeed.push({ seed, ...MEASURE[experiment]({ ...cfg, seed, progress: undefined }) });
    cfg.progress?.(`sweep ${experiment}`, seed - first + 1, total);
  }
  const strategies: Record<string, SweepStrategy> = {};
  for (const name of STRATEGIES) {
    const all = perSeed.map((p) => p.samples.get(name)!);
    const feasible = perSeed.filter((p) => !p.infeasible).map((p) => p.samples.get(name)!);
    let etaBelow = 0;
    let sigmaBelow = 0;
    for (const p of perSeed) {
      const s = p.samples.get(name)!;
      const prop = p.samples.get('proportional')!;
      if (s.eta < prop.eta - 1e-9) etaBelow++;
      if (s.sigma < prop.sigma - 1e-9) sigmaBelow++;
    }
    const r: SweepStrategy = {
      efficiency: minMean(all.map((s) => s.eta)),
      servedRatio: minMean(all.map((s) => s.sigma)),
      belowProportional: { efficiency: etaBelow, servedRatio: sigmaBelow },
    };
    if (experiment === 'e1') {
      r.efficiencyWholeRun = minMean(all.map((s) => s.etaAll!));
      r.servedRatioWholeRun = minMean(all.map((s) => s.sigmaAll!));
      r.convergenceSteps = stepStats(all.map((s) => s.steps));
    }
    if (experiment === 'e2') r.recoverySteps = stepStats(feasible.map((s) => s.steps));
    if (experiment === 'e5') {
      const stalls = all.map((s) => s.stall!);
      r.stallRate = {
        max: round(Math.max(...stalls)),
        mean: minMean(stalls).mean,
        seeds: stalls.filter((x) => x > 0).length,
        feasibleSeeds: feasible.filter((s) => s.stall! > 0).length,
      };
    }
    strategies[name] = r;
  }
  const infeasibleSeeds = perSeed.filter((p) => p.infeasible).map((p) => p.seed);
  const { seed: _seed, progress: _progress, ...params } = cfg;
  return {
    experiment,
    seeds: [first, last],
    params: experiment === 'e5' ? { ...params, bufferMax: cfg.bufferMax ?? SWEEP_E5_BUFFER } : params,
    ...(experiment === 'e1' ? {} : { infeasible: infeasibleSeeds.length, infeasibleSeeds }),
    strategies,
  };
}
