import type { CsvTable } from '../csv.ts';
import type { PlotSpec } from '../plot.ts';

export const EXPERIMENTS = ['e1', 'e2', 'e3', 'e4', 'e5', 'e7'] as const;
export type ExperimentId = (typeof EXPERIMENTS)[number];

export type ProgressFn = (label: string, done: number, total: number) => void;

/** What the command line sets; everything else is the paper scenario (SPEC section 4). */
export interface SimConfig {
  seed: number;
  steps: number;
  sinks: number;
  sources: number;
  types: number;
  /** EWMA weight (0.3 in the paper scenario; E4 sweeps it). */
  alpha: number;
  /** Signal noise relative to true capacity (0.05). */
  noise: number;
  progress?: ProgressFn;
}

export const DEFAULT_CONFIG: Readonly<SimConfig> = Object.freeze({
  seed: 1,
  steps: 1000,
  sinks: 50,
  sources: 10,
  types: 3,
  alpha: 0.3,
  noise: 0.05,
});

/** A statement of the seeds checked against the simulation. */
export interface Claim {
  claim: string;
  source: string;
  simulated: string;
  verdict: 'holds' | 'does not hold' | 'partly';
}

export interface ExperimentOutput {
  id: ExperimentId;
  title: string;
  /** JSON-ready summary (numbers rounded). */
  summary: Record<string, unknown>;
  /** Per-experiment CSV. */
  csv: CsvTable;
  plots: PlotSpec[];
  /** Markdown section for report.md (tables; plots are embedded by the report). */
  markdown: string;
  claims: Claim[];
}
