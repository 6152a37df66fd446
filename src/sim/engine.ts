/**
 * The discrete-step simulator. Each step:
 *  1. every sink signals its capacity with noise, `signal = max(0, f * C + N(0, (noise * C)^2))` (f its
 *     declare factor: 1 honest, 2 for a liar), capped by its stake cap, and the registry smooths it
 *     with the EWMA (declared capacity, shared by all strategies: it does not depend on routing);
 *  2. every source emits its rate (times the experiment's demand multiplier) into its task type;
 *  3. every strategy, on its own copy of the world (backlogs, buffers), allocates each type's inflow
 *     plus its buffer to that type's sinks; sinks complete `min(backlog + paid, C)`, so
 *     `Q <- max(0, Q + paid - C)`; money is conserved (asserted every step and type).
 *
 * What each rule sees: `onchain` the REPORTED backlog (`reportDelay` steps old; a liar reports 0);
 * `backpressure` the ledger backlog (paid minus completed, exact: the protocol knows both) and a
 * capacity estimate measured from completions (core/capacityEstimate.ts); `optimal` the truth.
 *
 * All strategies run in lockstep on the same draws, so their per-step numbers are directly comparable.
 * Signal noise and the `random` strategy draw from separate generators, so adding or dropping
 * `random` changes no other strategy's numbers. Struct of arrays, no allocation inside the step loop,
 * O(sinks) per step and strategy.
 */
import {
  backpressureInto,
  capacityEstimate,
  capacityProportionalInto,
  ewmaFloat,
  measureCapacity,
  newStepResult,
  shownCapacity,
  optimalInto,
  type StepResult,
} from '../core/index.ts';
import { DEFAULT_GAMMA, onchainInto } from './onchain.ts';
import { Rng } from './rng.ts';
import type { Scenario } from './scenario.ts';
import type { StrategyName } from './strategies.ts';

export interface EngineOptions {
  steps: number;
  strategies: readonly StrategyName[];
  /** EWMA weight of the new signal, in (0, 1]. */
  alpha: number;
  /** Signal noise: standard deviation relative to true capacity. */
  noise: number;
  /** Buffer limit per task type (Infinity: unbounded). */
  bufferMax: number;
  /** Queue premium gamma of the `onchain` rule's weight C / (1 + gamma * q / C); default 1. */
  gamma?: number;
  /** Backlog reports are this many steps old (default 0: the backlog at the start of the step). */
  reportDelay?: number;
  /** Called before each step, after the engine reset `sim.demand` to the base demand. */
  beforeStep?: (t: number, sim: Simulation) => void;
  /** Called after each step (per-type results are in `sim.lastToSinks` etc.). */
  afterStep?: (t: number, sim: Simulation) => void;
  onProgress?: (done: number, total: number) => void;
}

/** Per-step series of one strategy (one entry per step). */
export interface StrategySeries {
  name: StrategyName;
  /** Allocation efficiency eta(t) = sum_k min(F_k, C_k) / sum_k F_k (NaN when nothing was paid). */
  eta: Float64Array;
  /** Paid to sinks, sum_k F_k (includes buffer drains). */
  paid: Float64Array;
  /** Productive payment, sum_k min(F_k, C_k). */
  productive: Float64Array;
  /** Wasted pay, sum_k max(0, F_k - C_k): paid beyond what the sink could do in that step. */
  wasted: Float64Array;
  /** Total sink backlog after the step. */
  backlog: Float64Array;
  /** Total buffer content after the step. */
  buffer: Float64Array;
  /** Money the sources held back because the buffer was full. */
  refused: Float64Array;
  /** Number of task types whose source had to pause this step. */
  stalls: Float64Array;
  /** What the sources paid (demand - refused). */
  sourcePaid: Float64Array;
  /**
   * The most this strategy could have paid productively: sum over types of
   * min(true capacity, demand + its buffer at the start of the step). Money it holds counts, so
   * productive / feasible never exceeds 1.
   */
  feasible: Float64Array;
  /**
   * Distance of the allocation to `optimal`'s in the same step: sum_k |F_k - F*_k| / (sum F + sum F*),
   * 0 = the same payments, 1 = disjoint (NaN when `optimal` does not run or nobody is paid).
   */
  distance: Float64Array;
  /** Largest relative conservation error seen in a (type, step). */
  maxConservationError: number;
}

export interface RunResult {
  steps: number;
  types: number;
  /** Offered demand (money per step, all types). */
  demand: Float64Array;
  /** sum over types of min(demand, true capacity): the feasible payment of a strategy without a buffer. */
  feasible: Float64Array;
  /** Total true capacity. */
  capacity: Float64Array;
  series: StrategySeries[];
}

const enum Kind {
  Proportional,
  OnChain,
  RoundRobin,
  Random,
  Backpressure,
  Optimal,
}

const KIND: Record<StrategyName, Kind> = {
  proportional: Kind.Proportional,
  onchain: Kind.OnChain,
  'round-robin': Kind.RoundRobin,
  random: Kind.Random,
  backpressure: Kind.Backpressure,
  optimal: Kind.Optimal,
};

/** Relative tolerance of the per-step conservation assertion. */
export const CONSERVATION_TOLERANCE = 1e-9;

function newSeries(name: StrategyName, steps: number): StrategySeries {
  const f = () => new Float64Array(steps);
  return {
    name,
    eta: f(),
    paid: f(),
    productive: f(),
    wasted: f(),
    backlog: f(),
    buffer: f(),
    refused: f(),
    stalls: f(),
    sourcePaid: f(),
    feasible: f(),
    distance: f().fill(NaN),
    maxConservationError: 0,
  };
}

export class Simulation {
  readonly scenario: Scenario;
  readonly options: EngineOptions;
  /** Signal noise (and nothing else). */
  readonly rng: Rng;
  /** The `random` strategy's weights, seeded from `rng` once at construction. */
  readonly randomRng: Rng;
  /** Declared (stake-capped, smoothed) capacity, internal layout. */
  readonly declared: Float64Array;
  /** This step's offered demand per type; hooks may change it in beforeStep. */
  readonly demand: Float64Array;
  /** Per strategy: sink backlogs (internal layout): the truth, and the ledger paid minus completed. */
  readonly backlog: Float64Array[];
  /** Per strategy: this step's payments (internal layout). */
  readonly pay: Float64Array[];
  /** Buffer content, index s * types + t. */
  readonly buffer: Float64Array;
  /** Last step, per strategy and type (index s * types + t): paid to sinks, refused, source paid. */
  readonly lastToSinks: Float64Array;
  readonly lastRefused: Float64Array;
  readonly lastProductive: Float64Array;
  /** Per type, this step: total declared and total true capacity. */
  readonly declaredTotal: Float64Array;
  readonly capacityTotal: Float64Array;

  private readonly kinds: Kind[];
  private readonly gamma: number;
  private readonly reportDelay: number;
  private readonly anyLiar: boolean;
  private readonly optimalIndex: number;
  private readonly dView: Float64Array[];
  private readonly cView: Float64Array[];
  private readonly qView: Float64Array[][];
  private readonly pView: Float64Array[][];
  /** Per strategy (backpressure only): measured capacity (NaN until saturated) and the most completed. */
  private readonly measured: (Float64Array | null)[];
  private readonly shown: (Float64Array | null)[];
  private readonly estimate: (Float64Array | null)[];
  /** Per strategy (onchain only): the reported backlog, and the last `reportDelay` steps' backlogs (ring). */
  private readonly reported: (Float64Array | null)[];
  private readonly history: Float64Array[][];
  private readonly res: StepResult = newStepResult();

  constructor(scenario: Scenario, options: EngineOptions, rng: Rng) {
    if (!(options.alpha > 0 && options.alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
    if (!(options.noise >= 0)) throw new RangeError('noise must be >= 0');
    if (!(options.bufferMax >= 0)) throw new RangeError('bufferMax must be >= 0');
    if (options.gamma !== undefined && !(options.gamma >= 0 && Number.isFinite(options.gamma))) throw new RangeError('gamma must be a finite number >= 0');
    if (!Number.isInteger(options.steps) || options.steps < 1) throw new RangeError('steps must be a positive integer');
    const delay = options.reportDelay ?? 0;
    if (!Number.isInteger(delay) || delay < 0) throw new RangeError('reportDelay must be a whole number >= 0');
    this.scenario = scenario;
    this.options = options;
    this.rng = rng;
    this.randomRng = new Rng(rng.nextU32());
    const { n, types, typeStart } = scenario;
    const S = options.strategies.length;
    this.kinds = options.strategies.map((s) => KIND[s]);
    this.gamma = options.gamma ?? DEFAULT_GAMMA;
    this.reportDelay = delay;
    this.anyLiar = scenario.declareFactor.some((f) => f !== 1) || scenario.hidesBacklog.some((h) => h === 1);
    this.optimalIndex = S > 1 ? this.kinds.indexOf(Kind.Optimal) : -1;
    this.declared = new Float64Array(n);
    this.demand = new Float64Array(types);
    this.backlog = options.strategies.map(() => new Float64Array(n));
    this.pay = options.strategies.map(() => new Float64Array(n));
    this.buffer = new Float64Array(S * types);
    this.lastToSinks = new Float64Array(S * types);
    this.lastRefused = new Float64Array(S * types);
    this.lastProductive = new Float64Array(S * types);
    this.declaredTotal = new Float64Array(types);
    this.capacityTotal = new Float64Array(types);
    this.measured = this.kinds.map((k) => (k === Kind.Backpressure ? new Float64Array(n).fill(NaN) : null));
    this.shown = this.kinds.map((k) => (k === Kind.Backpressure ? new Float64Array(n) : null));
    this.estimate = this.kinds.map((k) => (k === Kind.Backpressure ? new Float64Array(n) : null));
    this.reported = this.kinds.map((k) => (k === Kind.OnChain ? new Float64Array(n) : null));
    this.history = this.kinds.map((k) => (k === Kind.OnChain ? Array.from({ length: delay }, () => new Float64Array(n)) : []));
    const view = (a: Float64Array, t: number) => a.subarray(typeStart[t], typeStart[t + 1]);
    this.dView = [];
    this.cView = [];
    for (let t = 0; t < types; t++) {
      this.dView.push(view(this.declared, t));
      this.cView.push(view(scenario.capacity, t));
    }
    this.qView = this.backlog.map((q) => Array.from({ length: types }, (_, t) => view(q, t)));
    this.pView = this.pay.map((p) => Array.from({ length: types }, (_, t) => view(p, t)));
  }

  run(): RunResult {
    const { steps, strategies, onProgress } = this.options;
    const result: RunResult = {
      steps,
      types: this.scenario.types,
      demand: new Float64Array(steps),
      feasible: new Float64Array(steps),
      capacity: new Float64Array(steps),
      series: strategies.map((s) => newSeries(s, steps)),
    };
    const every = Math.max(1, Math.floor(steps / 100));
    for (let t = 0; t < steps; t++) {
      this.step(t, result);
      if (onProgress && (t + 1) % every === 0) onProgress(t + 1, steps);
    }
    return result;
  }

  private step(t: number, out: RunResult): void {
    const sc = this.scenario;
    const { types, typeStart, cap, capacity: C, declareFactor } = sc;
    const { alpha, noise, bufferMax, beforeStep, afterStep } = this.options;
    const rng = this.rng;
    const d = this.declared;
    this.demand.set(sc.baseDemand);
    if (beforeStep) beforeStep(t, this);

    // 1. Signals through the stake cap and the EWMA (shared by all strategies).
    let demandAll = 0;
    let feasibleAll = 0;
    let capacityAll = 0;
    for (let ty = 0; ty < types; ty++) {
      let sumC = 0;
      let sumD = 0;
      const start = typeStart[ty];
      const end = typeStart[ty + 1];
      for (let i = start; i < end; i++) {
        const c = C[i];
        sumC += c;
        // Honest sinks signal C; a liar f * C; E3's attacker (f = Infinity) its whole cap.
        const f = this.anyLiar ? declareFactor[i] : 1;
        let s = f === Infinity ? cap[i] : f * c + noise * c * rng.normal();
        if (s < 0) s = 0;
        const k = cap[i];
        if (s > k) s = k;
        const v = ewmaFloat(d[i], s, alpha);
        d[i] = v;
        sumD += v;
      }
      this.capacityTotal[ty] = sumC;
      this.declaredTotal[ty] = sumD;
      const dem = this.demand[ty];
      demandAll += dem;
      feasibleAll += dem < sumC ? dem : sumC;
      capacityAll += sumC;
    }
    out.demand[t] = demandAll;
    out.feasible[t] = feasibleAll;
    out.capacity[t] = capacityAll;

    // 2. Every strategy allocates every type's inflow + buffer; sinks work off their queues.
    const res = this.res;
    for (let s = 0; s < this.kinds.length; s++) {
      const kind = this.kinds[s];
      const series = out.series[s];
      if (kind === Kind.OnChain) this.report(s, t);
      let paidAll = 0;
      let prodAll = 0;
      let backlogAll = 0;
      let bufferAll = 0;
      let refusedAll = 0;
      let stalls = 0;
      let sourcePaidAll = 0;
      let feasible = 0;
      for (let ty = 0; ty < types; ty++) {
        const bi = s * types + ty;
        const cv = this.cView[ty];
        const qv = this.qView[s][ty];
        const pv = this.pView[s][ty];
        const inflow = this.demand[ty];
        const bufIn = this.buffer[bi];
        this.allocate(kind, s, ty, inflow, bufIn, bufferMax, res);
        const mv = this.measured[s];
        const sv = this.shown[s];
        const start = typeStart[ty];
        let paid = 0;
        let prod = 0;
        let bl = 0;
        for (let k = 0, n = pv.length; k < n; k++) {
          const f = pv[k];
          const c = cv[k];
          const q0 = qv[k];
          paid += f;
          prod += f < c ? f : c;
          let q = q0 + f - c;
          if (q < 0) q = 0;
          qv[k] = q;
          bl += q;
          // Completions this step (what the ledger sees: q0 + f - q) are evidence of capacity.
          if (mv !== null && sv !== null) {
            const done = q0 + f - q;
            mv[start + k] = measureCapacity(mv[start + k], q0, f, done);
            sv[start + k] = shownCapacity(sv[start + k], done);
          }
        }
        const sourcePaid = inflow - res.refused;
        const err = Math.abs(sourcePaid + bufIn - paid - res.buffer) / Math.max(1, inflow + bufIn);
        if (!(err <= CONSERVATION_TOLERANCE)) {
          throw new Error(
            `money not conserved: strategy ${this.options.strategies[s]}, step ${t}, type ${ty}: in ${sourcePaid} + buffer ${bufIn} != paid ${paid} + buffer ${res.buffer}`,
          );
        }
        if (err > series.maxConservationError) series.maxConservationError = err;
        this.buffer[bi] = res.buffer;
        this.lastToSinks[bi] = paid;
        this.lastRefused[bi] = res.refused;
        this.lastProductive[bi] = prod;
        paidAll += paid;
        prodAll += prod;
        backlogAll += bl;
        bufferAll += res.buffer;
        refusedAll += res.refused;
        sourcePaidAll += sourcePaid;
        const cap = this.capacityTotal[ty];
        feasible += inflow + bufIn < cap ? inflow + bufIn : cap;
        if (res.refused > 1e-9 * Math.max(1, inflow)) stalls++;
      }
      series.eta[t] = paidAll > 0 ? prodAll / paidAll : NaN;
      series.paid[t] = paidAll;
      series.productive[t] = prodAll;
      series.wasted[t] = paidAll - prodAll;
      series.backlog[t] = backlogAll;
      series.buffer[t] = bufferAll;
      series.refused[t] = refusedAll;
      series.stalls[t] = stalls;
      series.sourcePaid[t] = sourcePaidAll;
      series.feasible[t] = feasible;
    }
    if (this.optimalIndex >= 0) this.distances(t, out);
    if (afterStep) afterStep(t, this);
  }

  /** Backlog reports for strategy s at step t: the backlog `reportDelay` steps ago; liars report 0. */
  private report(s: number, t: number): void {
    const rep = this.reported[s]!;
    const q = this.backlog[s];
    const n = q.length;
    if (this.reportDelay === 0) rep.set(q);
    else {
      // Slot t mod delay holds the backlog at the start of step t - delay (zeros before the start).
      const slot = this.history[s][t % this.reportDelay];
      rep.set(slot);
      slot.set(q);
    }
    const hides = this.scenario.hidesBacklog;
    if (this.anyLiar) for (let i = 0; i < n; i++) if (hides[i] === 1) rep[i] = 0;
  }

  /** Every strategy's distance to `optimal`'s payments this step. */
  private distances(t: number, out: RunResult): void {
    const opt = this.pay[this.optimalIndex];
    for (let s = 0; s < this.kinds.length; s++) {
      const p = this.pay[s];
      let diff = 0;
      let total = 0;
      for (let i = 0; i < p.length; i++) {
        diff += Math.abs(p[i] - opt[i]);
        total += p[i] + opt[i];
      }
      out.series[s].distance[t] = total > 0 ? diff / total : NaN;
    }
  }

  private allocate(kind: Kind, s: number, ty: number, inflow: number, bufIn: number, bufferMax: number, res: StepResult): void {
    const pv = this.pView[s][ty];
    const dv = this.dView[ty];
    switch (kind) {
      case Kind.Proportional:
        capacityProportionalInto(dv, inflow, bufIn, bufferMax, Infinity, pv, res);
        return;
      case Kind.OnChain: {
        const start = this.scenario.typeStart[ty];
        const rv = this.reported[s]!.subarray(start, start + pv.length);
        onchainInto(dv, rv, this.gamma, inflow, bufIn, bufferMax, pv, res);
        return;
      }
      case Kind.RoundRobin: {
        const n = pv.length;
        const x = (inflow + bufIn) / n;
        for (let k = 0; k < n; k++) pv[k] = x;
        res.toSinks = inflow + bufIn;
        res.buffer = 0;
        res.refused = 0;
        return;
      }
      case Kind.Random: {
        const n = pv.length;
        const rng = this.randomRng;
        let w = 0;
        for (let k = 0; k < n; k++) {
          const e = rng.exp();
          pv[k] = e;
          w += e;
        }
        const f = (inflow + bufIn) / w;
        for (let k = 0; k < n; k++) pv[k] *= f;
        res.toSinks = inflow + bufIn;
        res.buffer = 0;
        res.refused = 0;
        return;
      }
      case Kind.Backpressure: {
        const start = this.scenario.typeStart[ty];
        const n = pv.length;
        const mv = this.measured[s]!;
        const sv = this.shown[s]!;
        const ev = this.estimate[s]!;
        for (let k = 0; k < n; k++) ev[start + k] = capacityEstimate(dv[k], mv[start + k], sv[start + k]);
        backpressureInto(ev.subarray(start, start + n), this.qView[s][ty], inflow, bufIn, bufferMax, pv, res);
        return;
      }
      case Kind.Optimal:
        optimalInto(this.cView[ty], this.qView[s][ty], inflow, bufIn, bufferMax, pv, res);
        return;
    }
  }
}

/** Convenience: build and run. */
export function simulate(scenario: Scenario, options: EngineOptions, rng: Rng): RunResult {
  return new Simulation(scenario, options, rng).run();
}
