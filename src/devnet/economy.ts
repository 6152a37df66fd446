/**
 * A live agent economy on an embedded chain: anvil with the real Superfluid framework and every
 * BPE contract, the three services (capacity oracle, keeper, verifier), eight sink agents doing
 * real work and three sources streaming money and handing out tasks, all through the public SDK.
 * The scenario (scenario.ts) plays a demand spike, a failing sink, an over-declaring sink and a
 * congested pipeline stage. `stop()` closes every stream and returns where the money went.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseEventLogs, type Address, type Hex, type LocalAccount } from 'viem';
import { localDeployment, startLocalStack, type LocalStack } from '../chain/bpe/localStack.ts';
import { anvilAccount } from '../chain/clients.ts';
import { superTokenAbi, superfluidPoolAbi } from '../chain/abis.ts';
import * as bpe from '../chain/bpe/actions.ts';
import { write } from '../chain/deploy.ts';
import { advanceSinkEpoch, baseFee } from '../chain/bpe/verification.ts';
import { EscrowBuffer, Pipeline } from '../chain/bpe/artifacts.generated.ts';
import { writeDeploymentFile, type DeploymentFile } from '../chain/bpe/deploymentFile.ts';
import type { BpeParams } from '../chain/bpe/deploy.ts';
import { SinkAgent } from '../sdk/sinkAgent.ts';
import { SourceAgent } from '../sdk/sourceAgent.ts';
import { InProcessTransport } from '../sdk/transport.ts';
import { loadConfig } from '../services/common/config.ts';
import { createLogger, type Logger } from '../services/common/log.ts';
import { oracleSchema, startOracle, type RunningOracle } from '../services/oracle/index.ts';
import { startKeeper, type Keeper } from '../services/keeper/index.ts';
import { startVerifier, type Verifier } from '../services/verifier/index.ts';
import { makeWorker, type WorkKind } from './work.ts';
import { DEVNET_SCENARIO, type Scenario, type SinkScenario, type SourceScenario } from './scenario.ts';
import type { MoneyLedger } from './ledger.ts';

/** Short epochs and update intervals so a whole verification cycle fits in a few minutes. */
export const DEVNET_PARAMS: Partial<BpeParams> = {
  epochSeconds: 60n,
  minUpdateInterval: 5n,
  /** Receipts of an epoch may land this long after it ends: the verifier's queue must drain by then. */
  receiptGrace: 30n,
  drainWindow: 60n,
  unbondingPeriod: 3_600n,
};

const E18 = 10n ** 18n;
/** Anvil mnemonic indices: 0 deploys and creates task types; then sources, sinks, services. */
const SOURCE_ACCOUNTS = [1, 2, 3];
const SINK_ACCOUNT_BASE = 4;
const ORACLE_ACCOUNT = 12;
const KEEPER_ACCOUNT = 13;
const VERIFIER_ACCOUNT = 14;

export interface DevnetOptions {
  /** Seconds the scenario's timeline spans (incidents happen at fractions of it). */
  scenarioSeconds: number;
  /** Folder for the deployment JSON, the services' databases and devnet.log (emptied at start). */
  dir: string;
  scenario?: Scenario;
  log?: Logger;
  /** Progress lines for a human (startup steps). */
  progress?: (line: string) => void;
}

export interface DevnetSink {
  spec: SinkScenario;
  agent: SinkAgent<string, string>;
  account: LocalAccount;
  taskTypeId: Hex;
  pool: Address;
  completed: number;
  failed: number;
}

export interface DevnetSource {
  spec: SourceScenario;
  agent: SourceAgent<string, string>;
  account: LocalAccount;
  taskTypeId: Hex;
  pool: Address;
  /** Rate it streams when open and not paused (wei/s). */
  rate: bigint;
  open: boolean;
  paused: boolean;
  pauses: number;
  resumes: number;
  sent: number;
  completed: number;
  failed: number;
}

export interface DevnetEvent {
  at: number;
  name: string;
  text: string;
}

export interface Devnet {
  stack: LocalStack;
  deployment: DeploymentFile;
  deploymentPath: string;
  sinks: DevnetSink[];
  sources: DevnetSource[];
  oracle: RunningOracle;
  keeper: Keeper;
  verifier: Verifier;
  /** Seconds since the scenario started. */
  elapsed(): number;
  /** Incidents and service events, newest last. */
  events: DevnetEvent[];
  onEvent(listener: (e: DevnetEvent) => void): void;
  /** Stops the sources' streams and every agent and service, then reconciles the money. */
  stop(): Promise<DevnetSummary>;
}

interface DevnetStats {
  failureReasons: Record<string, number>;
  slashed: bigint;
  slashedBySink: Record<string, bigint>;
  failedSinkShare: { name?: string; atFailure?: number; atEnd?: number };
}

/** `member`'s share of the pool's units (what share of every stream it receives). */
async function unitShare(stack: LocalStack, pool: Address, member: Address): Promise<number> {
  const [units, total] = await Promise.all([
    bpe.poolUnits(stack, pool, member),
    stack.clients.publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getTotalUnits' }),
  ]);
  return total === 0n ? 0 : Number((units * 1_000_000n) / total) / 1_000_000;
}

export interface DevnetSummary extends MoneyLedger {
  /** Stake taken per sink name. */
  slashedBySink: Record<string, bigint>;
  /** The failing sink's share of its pool's units when it started failing and at the end. */
  failedSinkShare: { name?: string; atFailure?: number; atEnd?: number };
  /** Stake taken from over-declaring sinks (stake-token wei). */
  slashed: bigint;
  /** Why tasks failed, by error reason (a failing sink, full queues, ...). */
  failureReasons: Record<string, number>;
  slashes: number;
  rebalances: number;
  drains: number;
  tasksCompleted: number;
  tasksFailed: number;
  pauses: number;
  resumes: number;
}

/** Tasks per epoch a sink of this spec completes (what an honest agent ends up declaring). */
export function nominalCapacity(s: SinkScenario, epochSeconds: bigint): bigint {
  return BigInt(Math.floor((s.concurrency * Number(epochSeconds) * 1000) / s.delayMs));
}

export async function startDevnet(opts: DevnetOptions): Promise<Devnet> {
  const scenario = opts.scenario ?? DEVNET_SCENARIO;
  const progress = opts.progress ?? (() => {});
  rmSync(opts.dir, { recursive: true, force: true });
  mkdirSync(opts.dir, { recursive: true });
  // The services' and agents' logs go to a file: the terminal keeps its one status line.
  const log = opts.log ?? createLogger('devnet', process.env.BPE_LOG_LEVEL ?? 'info', join(opts.dir, 'devnet.log'));

  progress('starting anvil and deploying Superfluid, a Super Token and BPE');
  const stack = await startLocalStack({
    // A block every second for as long as the devnet runs: keep recent states in memory only
    // (by default anvil persists old states to ~/.foundry/anvil/tmp, tens of GB over hours).
    anvil: { accounts: 20, extraArgs: ['--prune-history', '512'] },
    params: DEVNET_PARAMS,
    fundedAccounts: SOURCE_ACCOUNTS,
    superTokenAmount: 10n ** 24n,
  });
  const listeners: ((e: DevnetEvent) => void)[] = [];
  const events: DevnetEvent[] = [];
  let startedAt = Date.now();
  const elapsed = () => (Date.now() - startedAt) / 1000;
  const emit = (name: string, text: string) => {
    const e = { at: elapsed(), name, text };
    events.push(e);
    log.info({ event: name, at: e.at }, text); // the timeline stays in devnet.log after the run
    for (const l of listeners) l(e);
  };
  const stats = {
    failureReasons: {} as Record<string, number>,
    slashed: 0n,
    slashedBySink: {} as Record<string, bigint>,
    failedSinkShare: {} as { name?: string; atFailure?: number; atEnd?: number },
  };
  const failureReasons = stats.failureReasons;
  const timers: NodeJS.Timeout[] = [];
  const stopFns: (() => Promise<void>)[] = [async () => stack.stop()];
  const cleanup = async () => {
    for (const t of timers) clearTimeout(t);
    for (const fn of stopFns.reverse()) await fn().catch(() => {});
  };

  try {
    const epoch = stack.bpe.params.epochSeconds;
    // Chain time moves only when a block is mined: a heartbeat block each second keeps the
    // chain's clock (epochs, attestation freshness, streams) in step with the wall clock.
    const heartbeat = setInterval(() => void stack.clients.testClient.mine({ blocks: 1 }).catch(() => {}), 1000);
    stopFns.push(async () => clearInterval(heartbeat));

    // Task types, each with a buffer worth `bufferSeconds` of its sinks' nominal capacity.
    const creator = stack.deployer;
    await stack.mintStakeTokens(creator.address, stack.bpe.params.minSinkStake);
    await bpe.stake(stack, creator, stack.bpe.params.minSinkStake);
    const types = new Map<WorkKind, { id: Hex; pool: Address; price: bigint }>();
    for (const t of scenario.taskTypes) {
      const capacity = scenario.sinks.filter((s) => s.taskType === t.name).reduce((a, s) => a + nominalCapacity(s, epoch), 0n);
      const bufferMax = (capacity * t.pricePerTask * BigInt(t.bufferSeconds)) / epoch;
      const { taskTypeId, pool } = await bpe.registerTaskType(stack, creator, {
        name: t.name, token: stack.token, pricePerTask: t.pricePerTask, bufferMax,
      });
      types.set(t.name, { id: taskTypeId, pool, price: t.pricePerTask });
      progress(`task type "${t.name}" ${taskTypeId.slice(0, 10)}…: pool ${pool}, buffer up to ${bufferMax / 10n ** 15n} mTUSD`);
    }
    // hash → transform: a congested transform stage limits what the hash stage may absorb.
    const stages = scenario.taskTypes.map((t) => types.get(t.name)!.id);
    const pipelineReceipt = await write(stack, 'creating the pipeline', {
      account: creator, address: stack.bpe.pipeline, abi: Pipeline.abi, functionName: 'createPipeline', args: [stages],
    });
    const [created] = parseEventLogs({ abi: Pipeline.abi, eventName: 'PipelineCreated', logs: pipelineReceipt.logs });
    progress(`pipeline #${created?.args.pipelineId} ${scenario.taskTypes.map((t) => t.name).join(' → ')}`);

    const deployment = localDeployment(stack, [...types].map(([name, t]) => ({ id: t.id, name, pool: t.pool })));
    const deploymentPath = join(opts.dir, 'deployment.json');
    writeDeploymentFile(deploymentPath, deployment);
    progress(`deployment written to ${deploymentPath}`);

    // The services, each with its own account and database, as `bpe oracle|keeper|verifier` would run.
    const keyOf = (index: number) => toPrivateKey(index);
    const oracle = await startOracle(
      loadConfig(oracleSchema, { env: {}, overrides: {
        deployment: deploymentPath, privateKey: keyOf(ORACLE_ACCOUNT), port: 0, dbPath: join(opts.dir, 'oracle.sqlite'),
        pollMs: 250, relayIntervalMs: 1000,
      } }),
      { log: log.child({ service: 'oracle' }) },
    );
    stopFns.push(() => oracle.stop());
    const verifier = await startVerifier({
      ctx: stack,
      account: anvilAccount(VERIFIER_ACCOUNT),
      db: join(opts.dir, 'verifier.sqlite'),
      pollMs: 250,
      http: { port: 0 },
      log: log.child({ service: 'verifier' }),
    });
    stopFns.push(() => verifier.stop());
    const keeper = await startKeeper({
      ctx: stack,
      account: anvilAccount(KEEPER_ACCOUNT),
      gda: stack.framework.gda,
      knownTaskTypes: deployment.taskTypes.map((t) => ({ id: t.id, pool: t.pool })),
      pollMs: 500,
      drainIntervalSec: 10,
      resyncSec: 5,
      http: { port: 0 },
      log: log.child({ service: 'keeper' }),
    });
    stopFns.push(() => keeper.stop());
    progress(`oracle ${oracle.url}, verifier ${verifier.url}, keeper ${keeper.url}`);
    for (const name of ['rebalanced', 'drained', 'slashed', 'overflowUpdated', 'pipelineRebalanced'] as const) {
      keeper.on(name, (detail) => {
        if (name === 'slashed') {
          const amount = BigInt(detail.slashed ?? 0);
          const who = nameOf.get(String(detail.sink).toLowerCase()) ?? String(detail.sink);
          stats.slashed += amount;
          stats.slashedBySink[who] = (stats.slashedBySink[who] ?? 0n) + amount;
        }
        emit(name, describe(name, detail));
      });
    }

    const nameOf = new Map(scenario.sinks.map((spec, i) => [anvilAccount(SINK_ACCOUNT_BASE + i).address.toLowerCase(), spec.name]));
    // Sinks: real workers, stake enough to back what they declare (a liar needs stake for its lie).
    const sinks: DevnetSink[] = [];
    for (const [i, spec] of scenario.sinks.entries()) {
      const account = anvilAccount(SINK_ACCOUNT_BASE + i);
      const type = types.get(spec.taskType)!;
      const capacity = nominalCapacity(spec, epoch);
      const stakeAmount = ((capacity * BigInt(Math.ceil((spec.overDeclareFactor ?? 1) * 2)) * 20n) + 100n) * E18;
      await stack.mintStakeTokens(account.address, stakeAmount);
      const state = { failing: false, slowdown: 1 };
      const work = makeWorker(spec.taskType, spec.rounds, spec.delayMs);
      const slowWork = makeWorker(spec.taskType, spec.rounds, spec.delayMs * (spec.slowdown ?? 1));
      const agent = new SinkAgent<string, string>({
        ctx: stack,
        account,
        taskTypeId: type.id,
        worker: async (payload) => {
          if (state.failing) {
            // Like a dependency that times out: the task takes its usual time, then fails.
            await new Promise((r) => setTimeout(r, spec.delayMs));
            throw new Error(`${spec.name} is failing`);
          }
          return state.slowdown > 1 ? slowWork(payload) : work(payload);
        },
        concurrency: spec.concurrency,
        stake: stakeAmount,
        initialCapacity: capacity,
        overDeclareFactor: spec.overDeclareFactor,
        oracle: oracle.url,
        verifier: verifier.url,
        updateIntervalMs: 2000,
        // Measure over the last 8 tasks: a failing sink's capacity falls within a minute (these
        // sinks finish a task every few seconds; the default window of 100 would take minutes).
        capacity: { windowSize: 8 },
      });
      const sink: DevnetSink = { spec, agent, account, taskTypeId: type.id, pool: type.pool, completed: 0, failed: 0 };
      agent.on('taskDone', () => { sink.completed++; });
      agent.on('taskFailed', () => { sink.failed++; });
      agent.on('error', (err) => log.warn({ err, sink: spec.name }, 'sink agent error'));
      agent.on('returned', (r) => log.info({
        sink: spec.name, returned: r.returned, kept: r.kept, earnedTasks: r.earnedTasks, baseFee: r.baseFee,
      }, 'unearned pay returned'));
      await agent.start();
      // Open its evaluation window now, so receipts of its first tasks count (the keeper would
      // open it too, a few polls later).
      await advanceSinkEpoch(stack, creator, type.id, account.address).catch((err) => log.warn({ err }, 'opening a window'));
      sinks.push(sink);
      if (spec.failsAt !== undefined) {
        timers.push(setTimeout(() => {
          state.failing = true;
          stats.failedSinkShare.name = spec.name;
          void unitShare(stack, type.pool, account.address).then((share) => { stats.failedSinkShare.atFailure = share; });
          emit('SinkFailed', `${spec.name} starts failing every task: its measured capacity falls and its share moves to the others`);
        }, spec.failsAt * opts.scenarioSeconds * 1000));
      }
      if (spec.slowsAt !== undefined) {
        timers.push(setTimeout(() => {
          state.slowdown = spec.slowdown ?? 1;
          emit('Congestion', `${spec.name} slows down ${spec.slowdown}×: the ${spec.taskType} stage congests`);
        }, spec.slowsAt * opts.scenarioSeconds * 1000));
      }
    }
    stopFns.push(async () => { await Promise.all(sinks.map((s) => s.agent.stop())); });
    // A stream into a pool without units flows at rate 0 (the GDA rounds the rate down to a
    // multiple of the total units) until it is set again, so sources open only once every pool
    // has units: the sinks' first attestations relayed by the oracle.
    for (const t of types.values()) {
      for (let tries = 0; ; tries++) {
        const units = await stack.clients.publicClient.readContract({ address: t.pool, abi: superfluidPoolAbi, functionName: 'getTotalUnits' });
        if (units > 0n) break;
        if (tries >= 120) throw new Error(`pool ${t.pool} still has no units after 60 s: the sinks' attestations did not land`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    progress(`${sinks.length} sinks staked, registered and declaring through the oracle`);

    // Sources: stream `load` × the type's nominal capacity in money, send tasks at the rate they pay for.
    const sources: DevnetSource[] = [];
    for (const [i, spec] of scenario.sources.entries()) {
      const account = anvilAccount(SOURCE_ACCOUNTS[i]!);
      const type = types.get(spec.taskType)!;
      const typeSinks = sinks.filter((s) => s.spec.taskType === spec.taskType);
      const capacity = typeSinks.reduce((a, s) => a + nominalCapacity(s.spec, epoch), 0n);
      const rate = (BigInt(Math.round(spec.load * 1000)) * capacity * type.price) / (1000n * epoch);
      const agent = new SourceAgent<string, string>({
        ctx: stack, account, taskTypeId: type.id, transport: new InProcessTransport(typeSinks.map((s) => s.agent)),
      });
      const source: DevnetSource = {
        spec, agent, account, taskTypeId: type.id, pool: type.pool, rate, open: false, paused: false,
        pauses: 0, resumes: 0, sent: 0, completed: 0, failed: 0,
      };
      agent.on('paused', () => { source.paused = true; source.pauses++; emit('SourcePaused', `${spec.name} pauses: the ${spec.taskType} buffer is saturated`); });
      agent.on('resumed', () => { source.paused = false; source.resumes++; emit('SourceResumed', `${spec.name} resumes`); });
      agent.on('error', (err) => log.warn({ err, source: spec.name }, 'source agent error'));
      sources.push(source);
    }
    stopFns.push(async () => {
      for (const s of sources) {
        s.agent.stop();
        if (s.open) await s.agent.close().catch((err) => log.warn({ err }, 'closing a stream'));
        s.open = false;
      }
    });

    const openSource = async (s: DevnetSource) => {
      await s.agent.open(s.rate);
      s.open = true;
      s.agent.start(2000);
      emit('SourceOpened', `${s.spec.name} streams ${fmt(s.rate)} TUSD/s into "${s.spec.taskType}"`);
    };
    const closeSource = async (s: DevnetSource) => {
      s.agent.stop();
      await s.agent.close();
      s.open = false;
      s.paused = false;
      emit('SourceClosed', `${s.spec.name} closes its stream`);
    };

    startedAt = Date.now();
    for (const s of sources) {
      if ((s.spec.from ?? 0) === 0) await openSource(s);
      else timers.push(setTimeout(() => void openSource(s).catch((err) => log.warn({ err }, 'opening a stream')), s.spec.from! * opts.scenarioSeconds * 1000));
      if (s.spec.until !== undefined) {
        timers.push(setTimeout(() => void closeSource(s).catch((err) => log.warn({ err }, 'closing a stream')), s.spec.until * opts.scenarioSeconds * 1000));
      }
    }

    // Task hand-out: each open, unpaused source sends what its stream pays for at the current base fee.
    const fees = new Map<Hex, bigint>();
    const refreshFees = async () => {
      for (const t of types.values()) fees.set(t.id, await baseFee(stack, t.id).catch(() => t.price));
    };
    await refreshFees();
    const feeTimer = setInterval(() => void refreshFees(), 10_000);
    stopFns.push(async () => clearInterval(feeTimer));
    const owed = new Map<DevnetSource, number>();
    const TICK_MS = 200;
    // A source asks for a little less work than its stream pays for: sinks refuse a request
    // ('unpaid') while the source's paid credit on chain is below one base fee, so a source that
    // spends exactly what it streams would see some of its tasks refused. The sinks hand the
    // excess back each epoch (SinkAgent's settle).
    const SEND_SHARE = 0.95;
    const sender = setInterval(() => {
      for (const s of sources) {
        if (!s.open || s.paused) continue;
        const fee = fees.get(s.taskTypeId) ?? 1n;
        const due = (owed.get(s) ?? 0) + (SEND_SHARE * Number((s.rate * BigInt(TICK_MS)) / fee)) / 1000;
        const whole = Math.floor(due);
        owed.set(s, due - whole);
        for (let k = 0; k < whole; k++) {
          s.sent++;
          s.agent.send(randomBytes(32).toString('hex')).then(
            () => { s.completed++; },
            (err: unknown) => {
              s.failed++;
              // A typed SDK error says why by its reason or name; a worker's plain Error by its message.
              const e = err as { reason?: string; name?: string; message?: string };
              const reason = e.reason ?? (e.name && e.name !== 'Error' ? e.name : e.message?.split('\n')[0]) ?? 'Error';
              const key = `${s.spec.name}: ${reason}`;
              failureReasons[key] = (failureReasons[key] ?? 0) + 1;
            },
          );
        }
      }
    }, TICK_MS);
    stopFns.push(async () => clearInterval(sender));
    progress('economy running');

    const devnet: Devnet = {
      stack, deployment, deploymentPath, sinks, sources, oracle, keeper, verifier, elapsed, events,
      onEvent: (l) => { listeners.push(l); },
      stop: async () => {
        clearInterval(sender);
        for (const t of timers) clearTimeout(t);
        const failed = sinks.find((x) => x.spec.name === stats.failedSinkShare.name);
        if (failed) stats.failedSinkShare.atEnd = await unitShare(stack, failed.pool, failed.account.address);
        const summary = await settleAndReconcile(stack, sinks, sources, types, stats, events, log);
        await cleanup();
        return summary;
      },
    };
    return devnet;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Closes the streams (returning their GDA deposits), then accounts for every wei paid in. */
async function settleAndReconcile(
  stack: LocalStack, sinks: DevnetSink[], sources: DevnetSource[],
  types: Map<WorkKind, { id: Hex; pool: Address }>, stats: DevnetStats,
  events: DevnetEvent[], log: Logger,
): Promise<DevnetSummary> {
  for (const s of sources) {
    s.agent.stop();
    if (s.open) await s.agent.close().catch((err) => log.warn({ err }, 'closing a stream'));
    s.open = false;
  }
  const { publicClient } = stack.clients;
  // Every read at one block: the services are still running, and a transaction between two reads
  // (the keeper sweeping a pool's remainder into the buffer, a drain) would move money from a
  // bucket not yet read into one already read.
  const at = { blockNumber: await publicClient.getBlockNumber({ cacheTime: 0 }) };
  const balance = (who: Address) => publicClient.readContract({ address: stack.token, abi: superTokenAbi, functionName: 'balanceOf', args: [who], ...at });
  const funded = 10n ** 24n;
  let paidIn = 0n;
  for (const s of sources) paidIn += funded - (await balance(s.account.address));
  let receivedBySinks = 0n;
  for (const s of sinks) {
    const received = await bpe.receivedFromPool(stack, s.pool, s.account.address, at);
    const returned = await publicClient.readContract({
      address: stack.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'returnedBy', args: [s.taskTypeId, s.account.address], ...at,
    });
    receivedBySinks += received - returned;
  }
  let inBuffer = 0n;
  let remainder = 0n;
  for (const t of types.values()) {
    inBuffer += await bpe.bufferLevel(stack, t.id, at);
    remainder += await balance(await bpe.poolAdmin(stack, t.id, at));
  }
  return {
    paidIn, receivedBySinks, inBuffer, remainder,
    slashed: stats.slashed,
    slashedBySink: { ...stats.slashedBySink },
    failedSinkShare: { ...stats.failedSinkShare },
    slashes: events.filter((e) => e.name === 'slashed').length,
    failureReasons: stats.failureReasons,
    rebalances: events.filter((e) => e.name === 'rebalanced').length,
    drains: events.filter((e) => e.name === 'drained').length,
    tasksCompleted: sources.reduce((a, s) => a + s.completed, 0),
    tasksFailed: sources.reduce((a, s) => a + s.failed, 0),
    pauses: sources.reduce((a, s) => a + s.pauses, 0),
    resumes: sources.reduce((a, s) => a + s.resumes, 0),
  };
}

function describe(name: string, detail: Record<string, unknown>): string {
  const parts = Object.entries(detail).map(([k, v]) => `${k}=${typeof v === 'string' && v.startsWith('0x') ? `${v.slice(0, 10)}…` : String(v)}`);
  return `${name} ${parts.join(' ')}`;
}

export function fmt(wei: bigint, digits = 6): string {
  const whole = wei / E18;
  if (digits === 0) return whole.toString();
  const frac = (wei % E18).toString().padStart(18, '0').slice(0, digits);
  return `${whole}.${frac}`;
}

function toPrivateKey(index: number): Hex {
  const account = anvilAccount(index);
  const key = account.getHdKey().privateKey;
  if (!key) throw new Error(`no private key for anvil account ${index}`);
  return `0x${Buffer.from(key).toString('hex')}`;
}
