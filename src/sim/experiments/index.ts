/** Experiment registry and the combined summary. */
import { runE1 } from './e1.ts';
import { runE2 } from './e2.ts';
import { runE3 } from './e3.ts';
import { runE4 } from './e4.ts';
import { runE5 } from './e5.ts';
import { runE7 } from './e7.ts';
import { runE8 } from './e8.ts';
import type { ExperimentId, ExperimentOutput, SimConfig } from './types.ts';

export { EXPERIMENTS, DEFAULT_CONFIG } from './types.ts';
export type { Claim, ExperimentId, ExperimentOutput, ProgressFn, SimConfig } from './types.ts';

export const RUNNERS: Record<ExperimentId, (cfg: SimConfig) => ExperimentOutput> = {
  e1: runE1,
  e2: runE2,
  e3: runE3,
  e4: runE4,
  e5: runE5,
  e7: runE7,
  e8: runE8,
};

export function runExperiments(ids: readonly ExperimentId[], cfg: SimConfig): ExperimentOutput[] {
  return ids.map((id) => RUNNERS[id](cfg));
}

export interface Summary {
  params: {
    seed: number;
    steps: number;
    sinks: number;
    sources: number;
    types: number;
    alpha: number;
    noise: number;
    load: number | null;
    reportDelay: number;
    liars: number;
    bufferMax: number | null;
    cap: SimConfig['cap'];
  };
  experiments: Partial<Record<ExperimentId, Record<string, unknown>>>;
  claims: ExperimentOutput['claims'];
}

export function buildSummary(cfg: SimConfig, outputs: readonly ExperimentOutput[]): Summary {
  const { seed, steps, sinks, sources, types, alpha, noise, load, reportDelay, liars, bufferMax, cap } = cfg;
  return {
    params: { seed, steps, sinks, sources, types, alpha, noise, load, reportDelay, liars, bufferMax, cap },
    experiments: Object.fromEntries(outputs.map((o) => [o.id, o.summary])),
    claims: outputs.flatMap((o) => o.claims),
  };
}
