/**
 * `bpe sim <e1|e2|e3|e4|e5|e7|e8|all> [flags] [--out DIR] [--json]`: runs the simulator's experiments;
 * `bpe sim sweep <e1|e2|e5> --seeds A..B [flags] [--json]`: one experiment over many seeds
 * (docs/simulator.md).
 *
 * Every argument is checked before anything runs; a bad one is a CliError (one line, exit 2,
 * nothing written).
 */
import { stat } from 'node:fs/promises';
import { CliError } from '../errors.ts';
import {
  buildSummary,
  DEFAULT_CONFIG,
  EXPERIMENTS,
  runExperiments,
  type ExperimentId,
  type SimConfig,
} from '../../sim/experiments/index.ts';
import { reportMarkdown, writeOutputs } from '../../sim/report.ts';
import { runSweep, SWEEP_EXPERIMENTS, type SweepExperiment, type SweepResult } from '../../sim/experiments/sweep.ts';
import { CAP_RULES, type CapRule } from '../../core/index.ts';

export const USAGE =
  'usage: bpe sim <e1|e2|e3|e4|e5|e7|e8|all> [--seed N] [--steps N] [--sinks N] [--sources N] [--types N] [--load X] [--noise X] [--alpha X] [--report-delay N] [--liars X] [--buffer-max X] [--cap sqrt|linear] [--out DIR] [--json] | bpe sim sweep <e1|e2|e5> --seeds A..B [flags] [--json]';

const HELP = `${USAGE}

Runs the paper's experiments on the simulator (defaults: the paper scenario).
  e1   convergence          e4   EWMA alpha sweep
  e2   shock (20 % fail)    e5   buffer sizes and stalls
  e3   Sybil splitting      e7   base-fee pricing under a demand shock
  e8   truthfulness: what over-declaring earns under two verification rules
  all  every experiment
  sweep <e1|e2|e5> --seeds A..B   one experiment over seeds A..B, min and mean per strategy

  --seed N     random seed (default 1); the same seed gives byte-identical output
  --steps N    steps per run (default 1000, 100..200000)
  --sinks N    sinks (default 50, at least --types, at most 5000000)
  --sources N  sources (default 10, 1..1000000)
  --types N    task types (default 3, 1..10000)
  --load X     demand as a multiple of true capacity, every type (default: the paper's draw; 0.01..10)
  --noise X    signal noise, sd as a fraction of capacity (default 0.05, 0..1)
  --alpha X    EWMA weight of a new signal (default 0.3, 0 < X <= 1)
  --report-delay N  backlog reports are N steps old (default 0, 0..1000)
  --liars X    share of sinks that declare 2x their capacity and report no backlog (default 0, 0..0.9)
  --buffer-max X    buffer limit per type in Lambda (default unbounded; E5 sweeps 0, 0.1, 0.5, 1; 0..100)
  --cap R      stake cap: linear (default, capacity = stake / 3) or sqrt (the seeds')
  --seeds A..B seeds of a sweep (A <= B, at most 10000 seeds)
  --out DIR    write per-experiment CSV, summary.json, SVG plots and report.md into DIR
  --json       print the summary JSON to stdout
`;

interface IntSpec {
  min: number;
  max: number;
}

const INT_FLAGS: Record<string, IntSpec> = {
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
  steps: { min: 100, max: 200_000 },
  sinks: { min: 1, max: 5_000_000 },
  sources: { min: 1, max: 1_000_000 },
  types: { min: 1, max: 10_000 },
};

interface FloatSpec {
  min: number;
  max: number;
  /** The minimum itself is not allowed. */
  exclusiveMin?: boolean;
  key: 'load' | 'noise' | 'alpha' | 'liars' | 'bufferMax';
}

const FLOAT_FLAGS: Record<string, FloatSpec> = {
  load: { min: 0.01, max: 10, key: 'load' },
  noise: { min: 0, max: 1, key: 'noise' },
  alpha: { min: 0, max: 1, exclusiveMin: true, key: 'alpha' },
  liars: { min: 0, max: 0.9, key: 'liars' },
  'buffer-max': { min: 0, max: 100, key: 'bufferMax' },
};

/** Flags with a non-numeric value. */
const VALUE_FLAGS = new Set(['out', 'cap', 'seeds', 'report-delay']);
const REPORT_DELAY: IntSpec = { min: 0, max: 1000 };

export interface SimArgs {
  experiments: ExperimentId[];
  which: string;
  config: SimConfig;
  out: string | null;
  json: boolean;
  help: boolean;
  /** `sweep`: the experiment and the seed range. */
  sweep: { experiment: SweepExperiment; first: number; last: number } | null;
}

function parseFloat10(flag: string, value: string, spec: FloatSpec): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new CliError(`--${flag} must be a decimal number, got "${value}"`);
  const x = Number(value);
  if (x > spec.max || x < spec.min || (spec.exclusiveMin && x === spec.min)) {
    throw new CliError(`--${flag} must be ${spec.exclusiveMin ? 'above' : 'at least'} ${spec.min} and at most ${spec.max}, got ${value}`);
  }
  return x;
}

function parseSeeds(value: string): { first: number; last: number } {
  const m = /^([0-9]+)\.\.([0-9]+)$/.exec(value);
  if (!m) throw new CliError(`--seeds must be a range A..B of whole numbers, got "${value}"`);
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first > last) throw new CliError(`--seeds ${value}: A must not exceed B`);
  if (last - first >= 10_000) throw new CliError(`--seeds ${value}: at most 10000 seeds`);
  return { first, last };
}

function parseInt10(flag: string, value: string, spec: IntSpec): number {
  if (!/^[0-9]+$/.test(value)) throw new CliError(`--${flag} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
    throw new CliError(`--${flag} must be between ${spec.min} and ${spec.max}, got ${value}`);
  }
  return n;
}

/** Parses and validates the arguments; throws CliError on anything wrong. */
export function parseSimArgs(args: readonly string[]): SimArgs {
  const positional: string[] = [];
  const seen = new Set<string>();
  const ints: Partial<Record<keyof typeof INT_FLAGS, number>> = {};
  const floats: Partial<Pick<SimConfig, FloatSpec['key']>> = {};
  let cap: CapRule = DEFAULT_CONFIG.cap;
  let reportDelay = DEFAULT_CONFIG.reportDelay;
  let seeds: { first: number; last: number } | null = null;
  let out: string | null = null;
  let json = false;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new CliError(`unknown option "${arg}" (${USAGE})`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (seen.has(name)) throw new CliError(`--${name} given twice`);
    seen.add(name);
    if (name === 'json') {
      if (inline !== undefined) throw new CliError('--json takes no value');
      json = true;
      continue;
    }
    if (!VALUE_FLAGS.has(name) && !(name in INT_FLAGS) && !(name in FLOAT_FLAGS)) throw new CliError(`unknown option "--${name}" (${USAGE})`);
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new CliError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (name === 'out') {
      if (value.trim() === '') throw new CliError('--out needs a directory');
      out = value;
    } else if (name === 'cap') {
      if (!(CAP_RULES as readonly string[]).includes(value)) throw new CliError(`--cap must be one of ${CAP_RULES.join(', ')}, got "${value}"`);
      cap = value as CapRule;
    } else if (name === 'seeds') {
      seeds = parseSeeds(value);
    } else if (name in FLOAT_FLAGS) {
      floats[FLOAT_FLAGS[name].key] = parseFloat10(name, value, FLOAT_FLAGS[name]);
    } else if (name === 'report-delay') {
      reportDelay = parseInt10(name, value, REPORT_DELAY);
    } else {
      ints[name as keyof typeof INT_FLAGS] = parseInt10(name, value, INT_FLAGS[name]);
    }
  }
  const config: SimConfig = { ...DEFAULT_CONFIG, ...ints, ...floats, cap, reportDelay };
  const none = { experiments: [], which: '', config, out, json, help, sweep: null };
  if (help) return none;
  if (positional.length === 0) throw new CliError(`which experiment? ${USAGE}`);
  if (config.types > config.sinks) throw new CliError(`--types (${config.types}) cannot exceed --sinks (${config.sinks}): every type needs a sink`);
  if (positional[0] === 'sweep') {
    if (positional.length !== 2) throw new CliError(`sweep needs one experiment (${SWEEP_EXPERIMENTS.join(', ')}), got "${positional.slice(1).join(' ')}"`);
    const experiment = positional[1];
    if (!(SWEEP_EXPERIMENTS as readonly string[]).includes(experiment)) throw new CliError(`cannot sweep "${experiment}" (one of ${SWEEP_EXPERIMENTS.join(', ')})`);
    if (seeds === null) throw new CliError('sweep needs --seeds A..B');
    if (out !== null) throw new CliError('sweep writes no files: drop --out');
    if (ints.seed !== undefined) throw new CliError('sweep takes --seeds A..B, not --seed');
    return { ...none, which: 'sweep', sweep: { experiment: experiment as SweepExperiment, ...seeds } };
  }
  if (seeds !== null) throw new CliError('--seeds only goes with sweep (one run takes --seed N)');
  if (positional.length > 1) throw new CliError(`one experiment at a time, got "${positional.join(' ')}" (${USAGE})`);
  const which = positional[0];
  let experiments: ExperimentId[];
  if (which === 'all') experiments = [...EXPERIMENTS];
  else if ((EXPERIMENTS as readonly string[]).includes(which)) experiments = [which as ExperimentId];
  else throw new CliError(`unknown experiment "${which}" (one of ${EXPERIMENTS.join(', ')}, all, sweep)`);
  return { ...none, experiments, which };
}

/** Progress on stderr, only when it is a terminal. */
function terminalProgress(): { fn: SimConfig['progress']; clear: () => void } {
  if (!process.stderr.isTTY) return { fn: undefined, clear: () => {} };
  let last = '';
  let lastAt = 0;
  return {
    fn: (label, done, total) => {
      const now = Date.now();
      const line = `bpe sim: ${label} ${Math.floor((100 * done) / total)} %`;
      if (line === last || (now - lastAt < 100 && done < total)) return;
      last = line;
      lastAt = now;
      process.stderr.write(`\r${line}\x1b[K`);
    },
    clear: () => {
      if (last) process.stderr.write('\r\x1b[K');
    },
  };
}

export async function run(args: string[]): Promise<void> {
  const parsed = parseSimArgs(args);
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  if (parsed.out !== null) {
    const st = await stat(parsed.out).catch(() => null);
    if (st && !st.isDirectory()) throw new CliError(`--out ${parsed.out} exists and is not a directory`);
  }
  const progress = terminalProgress();
  const config: SimConfig = { ...parsed.config, progress: progress.fn };
  if (parsed.sweep !== null) {
    let result: SweepResult;
    try {
      result = runSweep(parsed.sweep.experiment, config, parsed.sweep.first, parsed.sweep.last);
    } finally {
      progress.clear();
    }
    process.stdout.write(parsed.json ? JSON.stringify(result, null, 2) + '\n' : sweepMarkdown(result));
    return;
  }
  let outputs;
  try {
    outputs = runExperiments(parsed.experiments, config);
  } finally {
    progress.clear();
  }
  const summary = buildSummary(config, outputs);
  if (parsed.out !== null) {
    let written;
    try {
      written = await writeOutputs(parsed.out, config, parsed.which, outputs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code) throw new CliError(`cannot write to ${parsed.out}: ${(err as Error).message}`);
      throw err;
    }
    if (!parsed.json) process.stdout.write(`wrote ${written.files.length} files to ${written.dir}: ${written.files.join(', ')}\n`);
  }
  if (parsed.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else if (parsed.out === null) process.stdout.write(reportMarkdown(config, parsed.which, outputs, summary));
}

/** A sweep as a Markdown table (without --json). */
function sweepMarkdown(r: SweepResult): string {
  const f = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)} %` : '—');
  const lines = [
    `${r.experiment} over seeds ${r.seeds[0]}..${r.seeds[1]}${r.infeasible !== undefined ? ` (${r.infeasible} infeasible)` : ''}`,
    '',
    '| strategy | eta min | eta mean | sigma min | sigma mean | extra |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, s] of Object.entries(r.strategies)) {
    const extra = s.recoverySteps
      ? `recovery max ${s.recoverySteps.max ?? 'never'}, ${s.recoverySteps.failures} failures`
      : s.stallRate
        ? `stall rate max ${f(s.stallRate.max)}, on ${s.stallRate.seeds} seeds`
        : s.convergenceSteps
          ? `convergence max ${s.convergenceSteps.max ?? 'never'}, ${s.convergenceSteps.failures} never`
          : '';
    lines.push(`| ${name} | ${f(s.efficiency.min)} | ${f(s.efficiency.mean)} | ${f(s.servedRatio.min)} | ${f(s.servedRatio.mean)} | ${extra} |`);
  }
  return lines.join('\n') + '\n';
}
