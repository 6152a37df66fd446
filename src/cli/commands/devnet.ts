/**
 * `bpe devnet` (what `npm start` runs): a live agent economy on an embedded chain, with the
 * dashboard. `--headless --duration S --json` plays the same scenario without the web server and
 * prints the money's reconciliation; the exit code is 0 only if every wei is accounted for.
 */
import { resolve } from 'node:path';
import { CliError } from '../errors.ts';
import { startDevnet, fmt, type Devnet, type DevnetSummary } from '../../devnet/economy.ts';
import { reconciles, unaccounted } from '../../devnet/ledger.ts';
import { StatusLine } from '../../devnet/statusLine.ts';
import { DashboardState, type Snapshot } from '../../dashboard/state.ts';
import { startDashboard, type Dashboard } from '../../dashboard/server.ts';
import { toJson } from '../../services/common/http.ts';

export const USAGE = 'usage: bpe devnet [--port N] [--dir DIR] [--scenario-seconds S] [--headless --duration S [--json]]';

const HELP = `${USAGE}

Starts anvil with the real Superfluid protocol and BPE, the capacity oracle, keeper and verifier,
eight sink agents doing real work and three sources, and plays a scenario: a demand spike (the
buffer fills, sources pause, then resume), a failing sink (its share moves to the others), a sink
that over-declares (charged its shortfall each epoch) and a congested pipeline stage.

  --port N             dashboard port (default 8640; 0 = any free port)
  --dir DIR            deployment JSON and service databases (default .bpe-devnet; emptied at start)
  --scenario-seconds S length of the scenario's timeline (default 240, 60..86400)
  --headless           no dashboard; stop after --duration seconds
  --duration S         headless run length (default 180, 30..86400); the timeline spans it
  --json               with --headless: print the summary as one JSON object

Ctrl-C stops everything and prints where every wei went.
`;

interface Flags {
  port: number;
  dir: string;
  scenarioSeconds: number;
  headless: boolean;
  duration: number;
  json: boolean;
}

function intFlag(name: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new CliError(`--${name} must be an integer in ${min}..${max}, got ${value === undefined ? 'nothing' : `"${value}"`}`);
  }
  return n;
}

export function parseDevnetArgs(args: string[]): Flags | 'help' {
  const flags: Flags = { port: 8640, dir: '.bpe-devnet', scenarioSeconds: 240, headless: false, duration: 180, json: false };
  let durationSet = false;
  let scenarioSet = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    switch (arg) {
      case '--help': case '-h': return 'help';
      case '--headless': flags.headless = true; break;
      case '--json': flags.json = true; break;
      case '--port': flags.port = intFlag('port', args[++i], 0, 65_535); break;
      case '--dir': {
        const dir = args[++i];
        if (!dir) throw new CliError('--dir needs a folder');
        flags.dir = dir;
        break;
      }
      case '--scenario-seconds': flags.scenarioSeconds = intFlag('scenario-seconds', args[++i], 60, 86_400); scenarioSet = true; break;
      case '--duration': flags.duration = intFlag('duration', args[++i], 30, 86_400); durationSet = true; break;
      default: throw new CliError(`unknown argument "${arg}" (see --help)`);
    }
  }
  if (durationSet && !flags.headless) throw new CliError('--duration needs --headless (the interactive devnet runs until Ctrl-C)');
  if (flags.json && !flags.headless) throw new CliError('--json needs --headless');
  if (flags.headless && !scenarioSet) flags.scenarioSeconds = flags.duration;
  return flags;
}

export async function run(args: string[]): Promise<void> {
  const flags = parseDevnetArgs(args);
  if (flags === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const devnet = await startDevnet({
    scenarioSeconds: flags.scenarioSeconds,
    dir: resolve(flags.dir),
    progress: flags.json ? () => {} : (line) => say(`  ${line}`),
  });
  const state = new DashboardState({
    deployment: devnet.deployment,
    publicClient: devnet.stack.clients.publicClient,
    extra: () => ({
      sources: devnet.sources.map((s) => ({
        address: s.account.address, name: s.spec.name, taskTypeId: s.taskTypeId, paused: s.paused, requestedRate: s.open ? s.rate : 0n,
      })),
      scenario: { elapsed: Math.round(devnet.elapsed()), seconds: flags.scenarioSeconds },
    }),
  });
  let dashboard: Dashboard | undefined;
  devnet.onEvent((e) => {
    state.publish({ name: e.name, text: e.text, level: e.name === 'slashed' || e.name === 'SinkFailed' ? 'alert' : 'info' });
  });
  const efficiencies: number[] = [];
  state.onSnapshot((s) => { if (s.efficiency !== null) efficiencies.push(s.efficiency); });

  if (flags.headless) {
    state.start(1000);
    await new Promise((r) => setTimeout(r, flags.duration * 1000));
    await state.stop();
    await finish(devnet, efficiencies, flags.json);
    return;
  }

  try {
    dashboard = await startDashboard({ deployment: devnet.deployment, clients: devnet.stack.clients, port: flags.port, state });
  } catch (err) {
    await devnet.stop().catch(() => {});
    throw new CliError(`cannot serve the dashboard on port ${flags.port}: ${(err as Error).message} (try --port 0)`);
  }
  say(`\n  dashboard: ${dashboard.url}`);
  say(`  deployment: ${devnet.deploymentPath} (for the SDK, the services and cast; rpc ${devnet.deployment.rpcUrl})`);
  say('  Ctrl-C stops everything and prints where every wei went.\n');
  const status = new StatusLine(process.stderr);
  const ticker = setInterval(() => status.update(statusText(devnet, state.snapshot)), 1000);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  clearInterval(ticker);
  status.done();
  say('stopping: closing streams, stopping agents and services ...');
  await dashboard.close();
  await state.stop();
  await finish(devnet, efficiencies, false);
}

const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);

function statusText(devnet: Devnet, snap: Snapshot | undefined): string {
  const t = Math.round(devnet.elapsed());
  const done = devnet.sources.reduce((a, s) => a + s.completed, 0);
  const paused = devnet.sources.filter((s) => s.paused).length;
  const buffers = snap?.taskTypes.map((tt) => `${tt.name} buf ${(Number(tt.saturationBps ?? 0) / 100).toFixed(0)}%`).join(' · ') ?? '';
  const eff = snap?.efficiency == null ? '–' : `${(snap.efficiency * 100).toFixed(1)}%`;
  const slashes = devnet.events.filter((e) => e.name === 'slashed').length;
  return `t=${t}s block ${snap?.block ?? '…'} · tasks done ${done} · ${buffers} · paused ${paused}/${devnet.sources.length} · efficiency ${eff} · slashes ${slashes}`;
}

async function finish(devnet: Devnet, efficiencies: number[], json: boolean): Promise<void> {
  const summary: DevnetSummary = await devnet.stop();
  const efficiency = efficiencies.length ? efficiencies.reduce((a, b) => a + b, 0) / efficiencies.length : null;
  const attempted = summary.tasksCompleted + summary.tasksFailed;
  const servedRatio = attempted ? summary.tasksCompleted / attempted : null;
  const ok = reconciles(summary);
  if (json) {
    process.stdout.write(`${toJson({
      paidIn: summary.paidIn, receivedBySinks: summary.receivedBySinks, inBuffer: summary.inBuffer, remainder: summary.remainder,
      efficiency, servedRatio, slashed: summary.slashed, slashes: summary.slashes, rebalances: summary.rebalances, drains: summary.drains,
      pauses: summary.pauses, resumes: summary.resumes, tasksCompleted: summary.tasksCompleted, tasksFailed: summary.tasksFailed,
      failureReasons: summary.failureReasons, slashedBySink: summary.slashedBySink, failedSinkShare: summary.failedSinkShare,
      reconciled: ok,
    })}\n`);
  } else {
    const lines = [
      '',
      'where the money went (TUSD):',
      `  paid in by sources     ${fmt(summary.paidIn, 18)}`,
      `  received by sinks      ${fmt(summary.receivedBySinks, 18)}`,
      `  held in the buffers    ${fmt(summary.inBuffer, 18)}`,
      `  GDA remainder          ${fmt(summary.remainder, 18)}`,
      ok ? '  every wei accounted for.' : `  UNACCOUNTED: ${unaccounted(summary)} wei`,
      `allocation efficiency ${efficiency === null ? '–' : `${(efficiency * 100).toFixed(2)} %`} (mean over the run), tasks served ${servedRatio === null ? '–' : `${(servedRatio * 100).toFixed(2)} %`}`,
      `slashed: ${Object.entries(summary.slashedBySink).map(([n, v]) => `${n} ${fmt(v, 0)}`).join(', ') || 'nobody'} (stake tokens)`,
      summary.failedSinkShare.name ? `${summary.failedSinkShare.name} failed: its share of the pool went ${pct(summary.failedSinkShare.atFailure)} -> ${pct(summary.failedSinkShare.atEnd)}` : '',
      `slashes ${summary.slashes} (${fmt(summary.slashed)} stake), rebalances ${summary.rebalances}, drains ${summary.drains}, pauses ${summary.pauses}, resumes ${summary.resumes}`,
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  if (!ok) throw new CliError(`money does not reconcile: ${unaccounted(summary)} wei unaccounted`, 1);
}
