import type { CapRule } from '../../core/index.ts';
import type { CsvTable } from '../csv.ts';
import type { PlotSpec } from '../plot.ts';

export const EXPERIMENTS = ['e1', 'e2', 'e3', 'e4', 'e5', 'e7', 'e8'] as const;
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
  /** Demand as a multiple of true capacity per type (null: the paper's draw, 40-64 % of capacity). */
  load: number | null;
  /** Backlog reports are this many steps old. */
  reportDelay: number;
  /** Share of sinks that over-declare (x2) and report an empty queue. */
  liars: number;
  /** Buffer limit per type in Lambda = 2 x (mean demand per type) x 10 steps (null: unbounded; E5 sweeps its own). */
  bufferMax: number | null;
  /** Stake cap rule (linear, or the seeds' sqrt). */
  cap: CapRule;
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
  load: null,
  reportDelay: 0,
  liars: 0,
  bufferMax: null,
  cap: 'linear',
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
