/**
 * DashboardState: reads a live BPE deployment from the chain and keeps what the dashboard shows.
 *
 * Every `poll()` reads, at one block: each task type (registry, pool, buffer, pricing), each of its
 * sinks (`CapacityRegistry.sinksOf`, then state, weight, GDA units and member flow rate, price),
 * each source streaming into its pool (distributors found in the GDA's FlowDistributionUpdated
 * events, plus the ones an `extra()` hook names, with their paused state), and the BPE events since
 * the last poll. It appends one sample to the history (allocation efficiency and flow rates).
 *
 * Allocation efficiency at a sample = Σ_sinks min(received rate_k, capacity-worth rate_k) / inflow,
 * where received rate_k is the sink's GDA member flow rate, capacity-worth rate_k = weight_k ×
 * base fee / epochSeconds (the wei/s its queue-adjusted capacity can earn: the pool's own
 * `absorbableRate`, per sink) and inflow is the pool's total inflow (`BackpressurePool.inflowRate`).
 * Money above a sink's capacity and money parked in the escrow buffer count as not allocated.
 * 1 = every wei streamed reaches a sink that can do the work for it; null while nothing streams.
 */
import { getAddress, parseAbi, parseEventLogs, type Abi, type Address, type Hex, type Log, type PublicClient } from 'viem';
import { gdaForwarderAbi, superfluidPoolAbi } from '../chain/abis.ts';
import {
  BackpressurePool,
  CapacityRegistry,
  CompletionTracker,
  EscrowBuffer,
  OffchainAggregator,
  Pipeline,
  PricingCurve,
  StakeManager,
} from '../chain/bpe/artifacts.generated.ts';
import type { DeploymentFile } from '../chain/bpe/deploymentFile.ts';

// ---------------------------------------------------------------- snapshot types (bigints as decimal strings in JSON)

export interface SinkView {
  address: Address;
  /** Last capacity the sink revealed (capped by its allowance); null if it never revealed (attestations are not announced). */
  declared: bigint | null;
  /** EWMA-smoothed capacity, tasks/epoch. */
  smoothed: bigint;
  /** Queue-adjusted capacity C / (1 + γ·backlog / C): what the pool routes by. */
  effective: bigint;
  allowance: bigint;
  backlog: bigint;
  units: bigint;
  /** wei/s the sink receives from the pool now. */
  flowRate: bigint;
  /** wei/s its effective capacity is worth at the base fee. */
  capacityRate: bigint;
  connected: boolean;
  /** Price per task (base fee × queue premium), wei. */
  price: bigint;
}

export interface TaskTypeView {
  id: Hex;
  name: string;
  pool: Address;
  token: Address;
  pricePerTask: bigint;
  baseFee: bigint;
  stakeUnitsPerTask: number;
  totalCapacity: bigint;
  effectiveCapacity: bigint;
  /** wei/s streamed into the pool (sources and adjustment). */
  inflowRate: bigint;
  /** wei/s the sinks can absorb. */
  absorbableRate: bigint;
  totalUnits: bigint;
  bufferUnits: bigint;
  /** wei/s the pool streams into the escrow buffer. */
  bufferFlowRate: bigint;
  bufferLevel: bigint;
  bufferMax: bigint;
  saturationBps: bigint;
  saturated: boolean;
  sinks: SinkView[];
  efficiency: number | null;
}

export interface SourceView {
  address: Address;
  name: string | null;
  taskTypeId: Hex | null;
  taskTypeName: string | null;
  /** wei/s this source streams into the task type's pool now. */
  flowRate: bigint;
  /** What the source asked for before pausing (from `extra()`), if known. */
  requestedRate: bigint | null;
  /** null: unknown (pause is the SDK's state; only `extra()` knows it). */
  paused: boolean | null;
}

export interface EventEntry {
  id: string;
  /** 'chain' for contract events, 'app' for `publish()`ed entries. */
  origin: 'chain' | 'app';
  /** Milliseconds since the epoch (block timestamp for chain events). */
  time: number;
  name: string;
  text: string;
  level: 'info' | 'warn' | 'alert';
  block?: number;
  tx?: Hex;
  taskTypeId?: Hex;
  args?: Record<string, unknown>;
}

export interface Sample {
  /** Unix seconds (wall clock of the sample). */
  t: number;
  efficiency: number | null;
  inflowRate: bigint;
  sinksRate: bigint;
  bufferRate: bigint;
}

export interface Snapshot {
  /** Wall-clock ms of this poll. */
  at: number;
  chainId: number;
  block: number;
  blockTime: number;
  token: { address: Address; symbol: string; decimals: number };
  epochSeconds: bigint;
  contracts: Record<string, Address>;
  taskTypes: TaskTypeView[];
  sources: SourceView[];
  /** Whole deployment: Σ allocated / Σ inflow (null while nothing streams). */
  efficiency: number | null;
  history: Sample[];
  events: EventEntry[];
  /** Whatever `extra()` returned besides `sources`. */
  extra: Record<string, unknown>;
  error: string | null;
}

export interface ExtraSource {
  address: Address;
  name?: string;
  taskTypeId?: Hex;
  paused?: boolean;
  requestedRate?: bigint;
}

export interface DashboardExtra {
  sources?: ExtraSource[];
  [key: string]: unknown;
}

export interface DashboardStateOptions {
  deployment: DeploymentFile;
  publicClient: PublicClient;
  extra?: () => DashboardExtra | Promise<DashboardExtra>;
  /** Samples kept (default 600: ten minutes at one poll a second). */
  historyLength?: number;
  /** Event entries kept (default 300). */
  eventLength?: number;
  /** Blocks per eth_getLogs request (default 5000). */
  logChunkBlocks?: number;
}

// ---------------------------------------------------------------- helpers

const BPE_EVENTS_ABI = [
  ...StakeManager.abi, ...CapacityRegistry.abi, ...BackpressurePool.abi, ...EscrowBuffer.abi,
  ...Pipeline.abi, ...PricingCurve.abi, ...OffchainAggregator.abi, ...CompletionTracker.abi,
].filter((e) => e.type === 'event') as Abi;

const gdaEventAbi = parseAbi([
  'event FlowDistributionUpdated(address indexed token, address indexed pool, address indexed distributor, address operator, int96 oldFlowRate, int96 newDistributorToPoolFlowRate, int96 newTotalDistributionFlowRate, address adjustmentFlowRecipient, int96 adjustmentFlowRate, bytes userData)',
]);
const erc20MetaAbi = parseAbi(['function symbol() view returns (string)', 'function decimals() view returns (uint8)']);

/** Events that are routine bookkeeping and would drown the log. */
const QUIET = new Set(['SinkUnitsUpdated', 'OverflowUnitsUpdated', 'EIP712DomainChanged', 'CapacityCommitted', 'RemainderCredited']);
const ALERTS = new Set(['Slashed', 'BufferFull', 'UnitsPushFailed']);
const WARNS = new Set(['CapacityCapped', 'AttestationRejected', 'PaymentReturned']);

const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;

/** wei → a short decimal with `digits` significant decimals (for server-side log texts). */
export function formatAmount(wei: bigint, decimals = 18, digits = 4): string {
  const neg = wei < 0n;
  const abs = neg ? -wei : wei;
  const unit = 10n ** BigInt(decimals);
  const whole = abs / unit;
  const frac = abs % unit;
  let text: string;
  if (whole > 0n) {
    text = `${whole}.${frac.toString().padStart(decimals, '0').slice(0, digits)}`.replace(/\.?0+$/, '');
  } else if (frac === 0n) {
    text = '0';
  } else {
    const s = frac.toString().padStart(decimals, '0');
    const firstNonZero = s.search(/[1-9]/);
    text = `0.${s.slice(0, firstNonZero + digits)}`.replace(/0+$/, '');
  }
  return neg ? `-${text}` : text;
}

function ratio(num: bigint, den: bigint): number | null {
  if (den <= 0n) return null;
  return Number((num * 1_000_000n) / den) / 1_000_000;
}

// ---------------------------------------------------------------- state

interface KnownTaskType { id: Hex; name: string; pool: Address }

export class DashboardState {
  readonly deployment: DeploymentFile;
  private readonly client: PublicClient;
  private readonly extraFn?: DashboardStateOptions['extra'];
  private readonly historyLength: number;
  private readonly eventLength: number;
  private readonly logChunk: bigint;
  private readonly taskTypes = new Map<Hex, KnownTaskType>();
  private readonly declared = new Map<string, bigint>(); // `${taskTypeId}:${sink}` → last revealed
  private readonly distributors = new Map<Hex, Set<Address>>(); // taskTypeId → sources seen
  private readonly blockTimes = new Map<bigint, number>();
  private history: Sample[] = [];
  private events: EventEntry[] = [];
  private nextLogBlock: bigint;
  private token?: Snapshot['token'];
  private last?: Snapshot;
  private appSeq = 0;
  private listeners = new Set<(s: Snapshot) => void>();
  private eventListeners = new Set<(e: EventEntry) => void>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<Snapshot>;

  constructor(opts: DashboardStateOptions) {
    this.deployment = opts.deployment;
    this.client = opts.publicClient;
    this.extraFn = opts.extra;
    this.historyLength = opts.historyLength ?? 600;
    this.eventLength = opts.eventLength ?? 300;
    this.logChunk = BigInt(opts.logChunkBlocks ?? 5000);
    this.nextLogBlock = opts.deployment.startBlock;
    for (const t of opts.deployment.taskTypes) this.taskTypes.set(t.id, { ...t });
  }

  /** The latest snapshot (undefined before the first poll). */
  get snapshot(): Snapshot | undefined {
    return this.last;
  }

  onSnapshot(fn: (s: Snapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onEvent(fn: (e: EventEntry) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /** Adds an application entry to the event log (agents, services, the devnet's story). */
  publish(entry: { name: string; text?: string; level?: EventEntry['level']; taskTypeId?: Hex; data?: Record<string, unknown> }): EventEntry {
    const e: EventEntry = {
      id: `app-${++this.appSeq}`,
      origin: 'app',
      time: Date.now(),
      name: entry.name,
      text: entry.text ?? '',
      level: entry.level ?? 'info',
      taskTypeId: entry.taskTypeId,
      args: entry.data,
    };
    this.addEvent(e);
    return e;
  }

  /** Polls every `intervalMs` (each poll after the previous one finished) until `stop()`. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    const tick = async () => {
      await this.poll().catch(() => undefined);
      if (this.timer) this.timer = setTimeout(tick, intervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Reads everything once; concurrent calls share one read. */
  poll(): Promise<Snapshot> {
    this.running ??= this.read().finally(() => (this.running = undefined));
    return this.running;
  }

  private addEvent(e: EventEntry): void {
    this.events.push(e);
    if (this.events.length > this.eventLength) this.events.splice(0, this.events.length - this.eventLength);
    for (const fn of this.eventListeners) fn(e);
  }

  private async read(): Promise<Snapshot> {
    let snap: Snapshot;
    try {
      snap = await this.readChain();
    } catch (err) {
      const message = String((err as { shortMessage?: string }).shortMessage ?? (err as Error).message ?? err).split('\n')[0]!;
      snap = this.last
        ? { ...this.last, at: Date.now(), events: [...this.events], error: message }
        : this.emptySnapshot(message);
    }
    this.last = snap;
    for (const fn of this.listeners) fn(snap);
    return snap;
  }

  private emptySnapshot(error: string): Snapshot {
    const d = this.deployment;
    return {
      at: Date.now(), chainId: d.chainId, block: 0, blockTime: 0,
      token: this.token ?? { address: d.token, symbol: 'tokens', decimals: 18 },
      epochSeconds: d.bpe.params.epochSeconds, contracts: this.contracts(), taskTypes: [], sources: [],
      efficiency: null, history: [...this.history], events: [...this.events], extra: {}, error,
    };
  }

  private contracts(): Record<string, Address> {
    const { params: _p, ...addresses } = this.deployment.bpe;
    return { ...addresses, superfluidHost: this.deployment.superfluid.host, gdaV1Forwarder: this.deployment.superfluid.gdaV1Forwarder };
  }

  private async readChain(): Promise<Snapshot> {
    const d = this.deployment;
    const c = this.client;
    const block = await c.getBlock({ blockTag: 'latest' });
    const blockNumber = block.number!;
    if (!this.token) {
      const [symbol, decimals] = await Promise.all([
        c.readContract({ address: d.token, abi: erc20MetaAbi, functionName: 'symbol' }).catch(() => 'tokens'),
        c.readContract({ address: d.token, abi: erc20MetaAbi, functionName: 'decimals' }).catch(() => 18),
      ]);
      this.token = { address: d.token, symbol, decimals: Number(decimals) };
    }
    await this.followLogs(blockNumber);
    // The host's hook failing must not hide the chain: its error is reported beside the data.
    let extraError: string | null = null;
    const extra: DashboardExtra = this.extraFn
      ? await Promise.resolve()
        .then(() => this.extraFn!())
        .catch((err: unknown) => {
          extraError = `extra(): ${(err as Error).message ?? String(err)}`;
          return {};
        })
      : {};
    const { sources: extraSources = [], ...extraRest } = extra;

    const at = { blockNumber } as const;
    const read = <T>(address: Address, abi: Abi, functionName: string, args: readonly unknown[] = []) =>
      c.readContract({ address, abi, functionName, args, ...at } as Parameters<typeof c.readContract>[0]) as Promise<T>;
    const epoch = d.bpe.params.epochSeconds;

    const taskTypes: TaskTypeView[] = [];
    for (const known of this.taskTypes.values()) {
      const { id, pool } = known;
      const [info, sinks, baseFee, inflowRate, absorbableRate, effectiveCapacity, bufferLevel, saturationBps, saturated, totalUnits, bufferUnits, bufferFlowRate] =
        await Promise.all([
          read<{ token: Address; pricePerTask: bigint; bufferMax: bigint; totalCapacity: bigint; stakeUnitsPerTask: number }>(
            d.bpe.capacityRegistry, CapacityRegistry.abi, 'taskType', [id]),
          read<readonly Address[]>(d.bpe.capacityRegistry, CapacityRegistry.abi, 'sinksOf', [id]),
          read<bigint>(d.bpe.pricingCurve, PricingCurve.abi, 'baseFee', [id]),
          read<bigint>(d.bpe.backpressurePool, BackpressurePool.abi, 'inflowRate', [id]),
          read<bigint>(d.bpe.backpressurePool, BackpressurePool.abi, 'absorbableRate', [id]),
          read<bigint>(d.bpe.backpressurePool, BackpressurePool.abi, 'effectiveCapacity', [id]),
          read<bigint>(d.bpe.escrowBuffer, EscrowBuffer.abi, 'bufferLevel', [id]),
          read<bigint>(d.bpe.escrowBuffer, EscrowBuffer.abi, 'saturationBps', [id]),
          read<boolean>(d.bpe.escrowBuffer, EscrowBuffer.abi, 'isSaturated', [id]),
          read<bigint>(pool, superfluidPoolAbi, 'getTotalUnits'),
          read<bigint>(pool, superfluidPoolAbi, 'getUnits', [d.bpe.escrowBuffer]),
          read<bigint>(pool, superfluidPoolAbi, 'getMemberFlowRate', [d.bpe.escrowBuffer]),
        ]);
      const sinkViews = await Promise.all(sinks.map(async (sink): Promise<SinkView> => {
        const [state, weight, units, flowRate, connected, price] = await Promise.all([
          read<{ smoothed: number | bigint; allowance: number | bigint; backlog: number | bigint }>(
            d.bpe.capacityRegistry, CapacityRegistry.abi, 'sinkState', [id, sink]),
          read<bigint>(d.bpe.capacityRegistry, CapacityRegistry.abi, 'weightOf', [id, sink]),
          read<bigint>(pool, superfluidPoolAbi, 'getUnits', [sink]),
          read<bigint>(pool, superfluidPoolAbi, 'getMemberFlowRate', [sink]),
          read<boolean>(d.superfluid.gdaV1Forwarder, gdaForwarderAbi, 'isMemberConnected', [pool, sink]),
          read<bigint>(d.bpe.pricingCurve, PricingCurve.abi, 'priceOf', [id, sink]),
        ]);
        return {
          address: getAddress(sink),
          declared: this.declared.get(`${id}:${sink.toLowerCase()}`) ?? null,
          smoothed: BigInt(state.smoothed),
          effective: weight,
          allowance: BigInt(state.allowance),
          backlog: BigInt(state.backlog),
          units,
          flowRate,
          capacityRate: (weight * baseFee) / epoch,
          connected,
          price,
        };
      }));
      const allocated = sinkViews.reduce((s, k) => s + (k.flowRate < k.capacityRate ? k.flowRate : k.capacityRate), 0n);
      taskTypes.push({
        id, name: known.name, pool, token: info.token, pricePerTask: info.pricePerTask, baseFee,
        stakeUnitsPerTask: Number(info.stakeUnitsPerTask), totalCapacity: info.totalCapacity, effectiveCapacity,
        inflowRate, absorbableRate, totalUnits, bufferUnits, bufferFlowRate, bufferLevel, bufferMax: info.bufferMax,
        saturationBps, saturated, sinks: sinkViews, efficiency: ratio(allocated, inflowRate),
      });
    }

    // Sources: distributors seen in the GDA's events, and the ones extra() names.
    const byName = new Map([...this.taskTypes.values()].map((t) => [t.id, t]));
    const sources: SourceView[] = [];
    const seen = new Set<string>();
    const rateOf = (source: Address, t: KnownTaskType) =>
      read<bigint>(d.superfluid.gdaV1Forwarder, gdaForwarderAbi, 'getFlowDistributionFlowRate', [this.tokenOf(taskTypes, t.id), source, t.pool]);
    for (const x of extraSources) {
      const candidates = x.taskTypeId ? [byName.get(x.taskTypeId)].filter((t): t is KnownTaskType => !!t) : [...this.taskTypes.values()];
      const rates = await Promise.all(candidates.map((t) => rateOf(x.address, t)));
      const hits = candidates.map((t, i) => [t, rates[i]!] as const).filter(([, r], _i) => x.taskTypeId !== undefined || r > 0n);
      const rows = hits.length > 0 ? hits : [[undefined, 0n] as const];
      for (const [t, r] of rows) {
        if (t) seen.add(`${t.id}:${x.address.toLowerCase()}`);
        sources.push({
          address: getAddress(x.address), name: x.name ?? null, taskTypeId: t?.id ?? x.taskTypeId ?? null, taskTypeName: t?.name ?? null,
          flowRate: r, requestedRate: x.requestedRate ?? null, paused: x.paused ?? null,
        });
      }
    }
    for (const [id, set] of this.distributors) {
      const t = byName.get(id);
      if (!t) continue;
      for (const addr of set) {
        if (seen.has(`${id}:${addr.toLowerCase()}`)) continue;
        const r = await rateOf(addr, t);
        const isBuffer = addr.toLowerCase() === d.bpe.escrowBuffer.toLowerCase();
        if (r === 0n && isBuffer) continue;
        sources.push({ address: addr, name: isBuffer ? 'escrow buffer' : null, taskTypeId: id, taskTypeName: t.name, flowRate: r, requestedRate: null, paused: null });
      }
    }

    const inflow = taskTypes.reduce((s, t) => s + t.inflowRate, 0n);
    const sinksRate = taskTypes.reduce((s, t) => s + t.sinks.reduce((a, k) => a + k.flowRate, 0n), 0n);
    const bufferRate = taskTypes.reduce((s, t) => s + t.bufferFlowRate, 0n);
    const allocated = taskTypes.reduce(
      (s, t) => s + t.sinks.reduce((a, k) => a + (k.flowRate < k.capacityRate ? k.flowRate : k.capacityRate), 0n), 0n);
    const efficiency = ratio(allocated, inflow);
    this.history.push({ t: Date.now() / 1000, efficiency, inflowRate: inflow, sinksRate, bufferRate });
    if (this.history.length > this.historyLength) this.history.splice(0, this.history.length - this.historyLength);

    return {
      at: Date.now(),
      chainId: d.chainId,
      block: Number(blockNumber),
      blockTime: Number(block.timestamp),
      token: this.token,
      epochSeconds: epoch,
      contracts: this.contracts(),
      taskTypes,
      sources,
      efficiency,
      history: [...this.history],
      events: [...this.events],
      extra: extraRest,
      error: extraError,
    };
  }

  private tokenOf(views: TaskTypeView[], id: Hex): Address {
    return views.find((v) => v.id === id)?.token ?? this.deployment.token;
  }

  /** Reads BPE and GDA events from where the last poll stopped up to `to`, in chunks. */
  private async followLogs(to: bigint): Promise<void> {
    const d = this.deployment;
    const addresses = Object.values(this.contracts()).filter((a) => a !== d.superfluid.host && a !== d.superfluid.gdaV1Forwarder);
    while (this.nextLogBlock <= to) {
      const from = this.nextLogBlock;
      const end = from + this.logChunk - 1n < to ? from + this.logChunk - 1n : to;
      const logs = await this.client.getLogs({ address: addresses, fromBlock: from, toBlock: end });
      const decoded = parseEventLogs({ abi: BPE_EVENTS_ABI, logs: logs as Log[] }) as unknown as DecodedLog[];
      // Task types first (so names resolve in the same batch), then the rest in order.
      for (const log of decoded) {
        if (log.eventName === 'TaskTypeRegistered') {
          const a = log.args as { taskTypeId: Hex; name: string; pool: Address };
          this.taskTypes.set(a.taskTypeId, { id: a.taskTypeId, name: a.name, pool: getAddress(a.pool) });
        }
      }
      const pools = [...this.taskTypes.values()].map((t) => t.pool);
      if (pools.length > 0) {
        const gdaLogs = await this.client.getLogs({
          address: d.superfluid.gda, event: gdaEventAbi[0], args: { pool: pools }, fromBlock: from, toBlock: end,
        });
        for (const l of gdaLogs) {
          const t = [...this.taskTypes.values()].find((x) => x.pool.toLowerCase() === l.args.pool?.toLowerCase());
          if (!t || !l.args.distributor) continue;
          let set = this.distributors.get(t.id);
          if (!set) this.distributors.set(t.id, (set = new Set()));
          set.add(getAddress(l.args.distributor));
        }
      }
      const visible = decoded.filter((l) => !QUIET.has(l.eventName));
      for (const b of new Set(visible.slice(-this.eventLength).map((l) => l.blockNumber))) await this.blockTime(b);
      for (const log of decoded) {
        if (log.eventName === 'CapacityRevealed') {
          const a = log.args as { taskTypeId: Hex; sink: Address; raw: bigint };
          this.declared.set(`${a.taskTypeId}:${a.sink.toLowerCase()}`, a.raw);
        }
        if (QUIET.has(log.eventName)) continue;
        this.addEvent(this.describe(log));
      }
      this.nextLogBlock = end + 1n;
    }
  }

  private async blockTime(n: bigint): Promise<number> {
    let t = this.blockTimes.get(n);
    if (t === undefined) {
      t = Number((await this.client.getBlock({ blockNumber: n })).timestamp) * 1000;
      this.blockTimes.set(n, t);
      if (this.blockTimes.size > 2000) this.blockTimes.delete(this.blockTimes.keys().next().value!);
    }
    return t;
  }

  private describe(log: DecodedLog): EventEntry {
    const a = log.args as Record<string, any>;
    const tt = a.taskTypeId ? this.taskTypes.get(a.taskTypeId as Hex) : undefined;
    const where = tt ? `"${tt.name}"` : a.taskTypeId ? short(a.taskTypeId) : '';
    const sym = this.token?.symbol ?? 'tokens';
    const amt = (v: bigint) => `${formatAmount(v, this.token?.decimals ?? 18)} ${sym}`;
    const texts: Record<string, () => string> = {
      TaskTypeRegistered: () => `task type "${a.name}" created, ${amt(a.pricePerTask)}/task, buffer max ${amt(a.bufferMax)}`,
      SinkRegistered: () => `${short(a.sink)} joined ${where} (allowance ${a.allowance} tasks/epoch)`,
      SinkDeregistered: () => `${short(a.sink)} left ${where}`,
      CapacityRevealed: () => `${short(a.sink)} declared ${a.raw} tasks/epoch in ${where}, smoothed ${a.smoothed}`,
      CapacityCapped: () => `${short(a.sink)} capped to allowance ${a.allowance} in ${where}`,
      BacklogReported: () => `${short(a.sink)} reports backlog ${a.backlog} in ${where}`,
      Rebalanced: () => `${where} rebalanced: ${a.sinkCount} sinks, capacity ${a.totalCapacity}`,
      Deposited: () => `${amt(a.amount)} deposited into the ${where} buffer by ${short(a.source)}`,
      BufferFull: () => `${where} buffer full at ${amt(a.bufferLevel)}`,
      Drained: () => `buffer drained ${amt(a.amount)} to ${short(a.sink)} in ${where}`,
      PaymentReturned: () => `${short(a.sink)} returned ${amt(a.amount)} to the ${where} buffer`,
      Slashed: () => `${short(a.sink)} slashed ${formatAmount(a.amount)} stake`,
      Staked: () => `${short(a.sink)} staked, total ${formatAmount(a.totalStake)}`,
      EpochEvaluated: () => `${short(a.sink)} in ${where}: ${a.completions}/${a.expected} tasks over ${a.epochs} epoch(s)${a.slashed > 0n ? `, slashed ${formatAmount(a.slashed)}` : ''}`,
      CompletionRecorded: () => `task ${short(a.taskId)} completed by ${short(a.sink)} in ${where}`,
      BaseFeeUpdated: () => `${where} base fee ${amt(a.baseFee)} at ${(Number(a.utilizationBps) / 100).toFixed(1)} % utilisation`,
      PoolCreated: () => `GDA pool ${short(a.pool)} for ${where}`,
      RemainderSwept: () => `${where} remainder ${amt(a.amount)} swept`,
      AttestationsSubmitted: () => `${short(a.relayer)} relayed ${a.accepted} attestation(s), ${a.rejected} rejected`,
      AttestationRejected: () => `attestation of ${short(a.sink)} rejected (reason ${a.reason})`,
      PipelineCreated: () => `pipeline ${a.pipelineId} created with ${a.stages.length} stages`,
    };
    const text = texts[log.eventName]?.() ?? `${log.eventName} ${where}`.trim();
    const args = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
    return {
      id: `${log.blockNumber}-${log.logIndex}`,
      origin: 'chain',
      time: this.blockTimes.get(log.blockNumber) ?? Date.now(),
      name: log.eventName,
      text,
      level: ALERTS.has(log.eventName) ? 'alert' : WARNS.has(log.eventName) ? 'warn' : 'info',
      block: Number(log.blockNumber),
      tx: log.transactionHash,
      taskTypeId: a.taskTypeId,
      args,
    };
  }
}

interface DecodedLog {
  eventName: string;
  args: unknown;
  blockNumber: bigint;
  logIndex: number;
  transactionHash: Hex;
}

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}
