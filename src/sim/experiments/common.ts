/** Shared helpers of the experiments. */
import { Rng } from '../rng.ts';
import { buildScenario, PAPER_SCENARIO, type Scenario, type ScenarioParams } from '../scenario.ts';
import type { RunResult, StrategySeries } from '../engine.ts';
import type { Cell } from '../csv.ts';
import { mean, round, sum } from '../metrics.ts';
import type { SimConfig } from './types.ts';

export function scenarioParams(cfg: SimConfig): ScenarioParams {
  return { ...PAPER_SCENARIO, sinks: cfg.sinks, sources: cfg.sources, types: cfg.types, capRule: cfg.cap, liars: cfg.liars, load: cfg.load };
}

/** Lambda of a scenario: 2 x (mean demand per type) x 10 steps, the unit of buffer sizes. */
export function lambdaOf(scenario: Scenario): number {
  return (2 * sum(scenario.baseDemand)) / scenario.types * 10;
}

/** The engine options every experiment shares: the configuration's alpha, noise, delay and buffer. */
export function engineBase(cfg: SimConfig, scenario: Scenario): { alpha: number; noise: number; reportDelay: number; bufferMax: number } {
  return {
    alpha: cfg.alpha,
    noise: cfg.noise,
    reportDelay: cfg.reportDelay,
    bufferMax: cfg.bufferMax === null ? Infinity : cfg.bufferMax * lambdaOf(scenario),
  };
}

/** A fresh generator from the seed and the scenario drawn from it (every experiment starts so). */
export function newWorld(cfg: SimConfig, params: ScenarioParams = scenarioParams(cfg)): { rng: Rng; scenario: Scenario } {
  const rng = new Rng(cfg.seed);
  return { rng, scenario: buildScenario(params, rng) };
}

export const SERIES_COLUMNS = [
  'step',
  'strategy',
  'eta',
  'productive',
  'paid',
  'wasted',
  'backlog',
  'buffer',
  'refused',
  'stalls',
  'demand',
  'feasible',
] as const;

/** One CSV row per step and strategy, with `prefix` cells in front (generated on demand). */
export function* seriesRows(run: RunResult, prefix: Cell[] = [], from = 0, to = run.steps): Generator<Cell[]> {
  for (let t = from; t < to; t++) {
    for (const s of run.series) {
      yield [
        ...prefix,
        t,
        s.name,
        s.eta[t],
        s.productive[t],
        s.paid[t],
        s.wasted[t],
        s.backlog[t],
        s.buffer[t],
        s.refused[t],
        s.stalls[t],
        run.demand[t],
        run.feasible[t],
      ];
    }
  }
}

export function byName(run: RunResult, name: string): StrategySeries {
  const s = run.series.find((x) => x.name === name);
  if (!s) throw new Error(`no series for strategy ${name}`);
  return s;
}

/** Long-format points for a line plot: every `stride`-th step of `values` per strategy. */
export function linePoints(
  run: RunResult,
  pick: (s: StrategySeries) => ArrayLike<number>,
  from = 0,
  to = run.steps,
  stride = 1,
): { step: number; strategy: string; value: number }[] {
  const pts: { step: number; strategy: string; value: number }[] = [];
  for (const s of run.series) {
    const v = pick(s);
    for (let t = from; t < to; t += stride) pts.push({ step: t, strategy: s.name, value: round(v[t], 6) });
  }
  return pts;
}

export function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(digits)} %`;
}

export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined) return 'never';
  if (!Number.isFinite(x)) return String(x);
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

export function mdTable(header: string[], rows: (string | number)[][]): string {
  const line = (r: (string | number)[]) => `| ${r.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Progress adapter for one run of the engine. */
export function progressFor(cfg: SimConfig, label: string): ((done: number, total: number) => void) | undefined {
  const p = cfg.progress;
  return p ? (done, total) => p(label, done, total) : undefined;
}

/** Relative error of the whole-run ledger: sources paid = paid to sinks + final buffer. */
export function ledgerError(s: StrategySeries): number {
  const inflow = sum(s.sourcePaid);
  const err = inflow - sum(s.paid) - s.buffer[s.buffer.length - 1];
  return inflow > 0 ? Math.abs(err) / inflow : Math.abs(err);
}

/**
 * Whether a strategy's buffer keeps growing: its mean over the last quarter of the run exceeds the
 * mean over the third quarter by more than 1 % of a step's demand per step.
 */
export function bufferGrowing(s: StrategySeries, demand: ArrayLike<number>): boolean {
  const n = s.buffer.length;
  const q = Math.floor(n / 4);
  if (q < 1) return false;
  const late = mean(s.buffer, n - q, n);
  const mid = mean(s.buffer, n - 2 * q, n - q);
  return late - mid > 0.01 * mean(demand, 0, n) * q;
}
