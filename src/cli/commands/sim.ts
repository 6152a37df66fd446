/**
 * `bpe sim <e1|e2|e3|e4|e5|e7|all> [--seed N] [--steps N] [--sinks N] [--sources N] [--types N]
 * [--out DIR] [--json]`: runs the simulator's experiments (docs/simulator.md).
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

export const USAGE =
  'usage: bpe sim <e1|e2|e3|e4|e5|e7|all> [--seed N] [--steps N] [--sinks N] [--sources N] [--types N] [--out DIR] [--json]';

const HELP = `${USAGE}

Runs the paper's experiments on the simulator (defaults: the paper scenario).
  e1   convergence          e4   EWMA alpha sweep
  e2   shock (20 % fail)    e5   buffer sizes and stalls
  e3   Sybil splitting      e7   base-fee pricing under a demand shock
  all  every experiment

  --seed N     random seed (default 1); the same seed gives byte-identical output
  --steps N    steps per run (default 1000, 100..200000)
  --sinks N    sinks (default 50, at least --types, at most 5000000)
  --sources N  sources (default 10, 1..1000000)
  --types N    task types (default 3, 1..10000)
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

export interface SimArgs {
  experiments: ExperimentId[];
  which: string;
  config: SimConfig;
  out: string | null;
  json: boolean;
  help: boolean;
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
    if (name !== 'out' && !(name in INT_FLAGS)) throw new CliError(`unknown option "--${name}" (${USAGE})`);
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
    } else {
      ints[name as keyof typeof INT_FLAGS] = parseInt10(name, value, INT_FLAGS[name]);
    }
  }
  const config: SimConfig = { ...DEFAULT_CONFIG, ...ints };
  if (help) return { experiments: [], which: '', config, out, json, help };
  if (positional.length === 0) throw new CliError(`which experiment? ${USAGE}`);
  if (positional.length > 1) throw new CliError(`one experiment at a time, got "${positional.join(' ')}" (${USAGE})`);
  const which = positional[0];
  let experiments: ExperimentId[];
  if (which === 'all') experiments = [...EXPERIMENTS];
  else if ((EXPERIMENTS as readonly string[]).includes(which)) experiments = [which as ExperimentId];
  else throw new CliError(`unknown experiment "${which}" (one of ${EXPERIMENTS.join(', ')}, all)`);
  if (config.types > config.sinks) throw new CliError(`--types (${config.types}) cannot exceed --sinks (${config.sinks}): every type needs a sink`);
  return { experiments, which, config, out, json, help };
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
