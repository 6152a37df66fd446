/**
 * Scenarios: sinks (true capacity, stake, task type), sources (rate, task type). The paper scenario
 * (SPEC section 4) is the default: 50 sinks, 10 sources, 3 task types (sink i and source j serve type
 * i mod 3 and j mod 3), true capacity ~U(10, 100), source rate ~U(50, 200), S_min = 100. Capacity is
 * tasks per step at a price of 1, so it is also the payment a sink can absorb per step.
 *
 * Stakes depend on the cap rule, from the same uniform draw u per sink:
 *  - `linear` (default): cap = stake / STAKE_PER_TASK; an honest sink stakes for its capacity with a
 *    margin, stake = max(S_min, STAKE_PER_TASK x capacity x (1 + u)), so the cap never binds it;
 *  - `sqrt` (the seeds'): cap = sqrt(stake), stake = 100 + 900 u ~ U(100, 1000), as the seeds draw it.
 * Liars (a drawn fraction) declare LIAR_FACTOR x their capacity, stake for that declaration, and
 * report an empty queue.
 *
 * Layout: struct of arrays, sinks grouped by task type (type t occupies [typeStart[t], typeStart[t+1])),
 * so every per-type computation runs over a contiguous Float64Array view.
 */
import { capFloat, stakePerTask, type CapRule } from '../core/index.ts';
import type { Rng } from './rng.ts';

/**
 * Stake per unit of capacity (per task per step) under the linear cap, at price 1 and a verification
 * epoch of one step: price x epoch x the shortfall penalty factor (3), so the stake covers the
 * penalty for one epoch of declared-but-undelivered work (core/verification.ts).
 */
export const STAKE_PER_TASK = stakePerTask(1, 1);
/** A liar declares this multiple of its true capacity (over-declares by 100 %). */
export const LIAR_FACTOR = 2;

export interface ScenarioParams {
  sinks: number;
  sources: number;
  types: number;
  capacityMin: number;
  capacityMax: number;
  stakeMin: number;
  stakeMax: number;
  /** S_min: a stake below it backs no capacity. */
  minStake: number;
  stakeUnit: number;
  rateMin: number;
  rateMax: number;
  /** Cap rule; it also chooses how stakes are drawn (see above). */
  capRule: CapRule;
  /** Share of sinks that lie (over-declare and report no backlog), drawn after the sources. */
  liars: number;
  /** If set, every type's demand is scaled to this multiple of its true capacity. */
  load: number | null;
}

export const PAPER_SCENARIO: Readonly<ScenarioParams> = Object.freeze({
  sinks: 50,
  sources: 10,
  types: 3,
  capacityMin: 10,
  capacityMax: 100,
  stakeMin: 100,
  stakeMax: 1000,
  minStake: 100,
  stakeUnit: 1,
  rateMin: 50,
  rateMax: 200,
  capRule: 'linear',
  liars: 0,
  load: null,
});

export interface SinkSpec {
  capacity: number;
  stake: number;
  type: number;
  /** Declares this multiple of its true capacity (default 1; Infinity: its full stake cap, E3's attacker). */
  declareFactor?: number;
  /** Reports an empty queue whatever its backlog. */
  hidesBacklog?: boolean;
  /** Label for reports (e.g. "attacker"). */
  group?: number;
}

export interface Scenario {
  readonly types: number;
  readonly n: number;
  readonly capRule: CapRule;
  readonly minStake: number;
  /** stakeUnit (sqrt) or stakePerTask (linear). */
  readonly capUnit: number;
  /** Offsets of each type's sinks in the internal layout (length types + 1). */
  readonly typeStart: Int32Array;
  /** Internal index -> sink id (position in the input order). */
  readonly sinkId: Int32Array;
  /** True capacity per step (internal layout); experiments change it (failures, capacity changes). */
  readonly capacity: Float64Array;
  /** The capacity at construction, for reference. */
  readonly baseCapacity: Float64Array;
  readonly stake: Float64Array;
  /** Stake cap (float form of the on-chain cap). */
  readonly cap: Float64Array;
  readonly declareFactor: Float64Array;
  readonly hidesBacklog: Uint8Array;
  readonly group: Int32Array;
  readonly sourceRate: Float64Array;
  readonly sourceType: Int32Array;
  /** Per type: the sum of its sources' rates (money per step at demand multiplier 1). */
  readonly baseDemand: Float64Array;
}

/** Builds the layout from explicit sinks and sources. */
export function makeScenario(
  sinks: readonly SinkSpec[],
  sources: readonly { rate: number; type: number }[],
  types: number,
  capRule: CapRule,
  minStake: number,
  capUnit: number,
): Scenario {
  const n = sinks.length;
  const counts = new Int32Array(types);
  for (const s of sinks) {
    if (!(s.type >= 0 && s.type < types)) throw new RangeError(`sink type ${s.type} out of range`);
    counts[s.type]++;
  }
  const typeStart = new Int32Array(types + 1);
  for (let t = 0; t < types; t++) typeStart[t + 1] = typeStart[t] + counts[t];
  const fill = typeStart.slice(0, types);
  const sinkId = new Int32Array(n);
  const capacity = new Float64Array(n);
  const stake = new Float64Array(n);
  const cap = new Float64Array(n);
  const declareFactor = new Float64Array(n);
  const hidesBacklog = new Uint8Array(n);
  const group = new Int32Array(n);
  sinks.forEach((s, id) => {
    const i = fill[s.type]++;
    sinkId[i] = id;
    capacity[i] = s.capacity;
    stake[i] = s.stake;
    cap[i] = capFloat(capRule, s.stake, minStake, capUnit);
    declareFactor[i] = s.declareFactor ?? 1;
    hidesBacklog[i] = s.hidesBacklog ? 1 : 0;
    group[i] = s.group ?? 0;
  });
  const sourceRate = new Float64Array(sources.length);
  const sourceType = new Int32Array(sources.length);
  const baseDemand = new Float64Array(types);
  sources.forEach((s, j) => {
    sourceRate[j] = s.rate;
    sourceType[j] = s.type;
    baseDemand[s.type] += s.rate;
  });
  return {
    types,
    n,
    capRule,
    minStake,
    capUnit,
    typeStart,
    sinkId,
    capacity,
    baseCapacity: capacity.slice(),
    stake,
    cap,
    declareFactor,
    hidesBacklog,
    group,
    sourceRate,
    sourceType,
    baseDemand,
  };
}

/** The float cap's unit under a rule: stakeUnit for sqrt, STAKE_PER_TASK for linear. */
export function capUnit(rule: CapRule, stakeUnit = PAPER_SCENARIO.stakeUnit): number {
  return rule === 'sqrt' ? stakeUnit : STAKE_PER_TASK;
}

/** Stake for a sink declaring `declared` with stake draw u ~ U(0, 1) (see the file comment). */
function drawnStake(p: ScenarioParams, declared: number, u: number): number {
  if (p.capRule === 'sqrt') return p.stakeMin + (p.stakeMax - p.stakeMin) * u;
  return Math.max(p.minStake, STAKE_PER_TASK * declared * (1 + u));
}

/**
 * Draws the sinks and sources of a scenario, in this order: per sink its capacity then its stake
 * draw; per source its rate; then the liars (only when there are any).
 */
export function drawScenarioSpecs(
  p: ScenarioParams,
  rng: Rng,
): { sinks: SinkSpec[]; sources: { rate: number; type: number }[] } {
  const capacity: number[] = [];
  const u: number[] = [];
  for (let i = 0; i < p.sinks; i++) {
    capacity.push(rng.range(p.capacityMin, p.capacityMax));
    u.push(rng.uniform());
  }
  const sources: { rate: number; type: number }[] = [];
  for (let j = 0; j < p.sources; j++) sources.push({ rate: rng.range(p.rateMin, p.rateMax), type: j % p.types });
  const liar = new Uint8Array(p.sinks);
  const liars = Math.round(p.liars * p.sinks);
  if (liars > 0) for (const i of rng.sample(p.sinks, liars)) liar[i] = 1;
  const sinks: SinkSpec[] = capacity.map((c, i) => {
    const factor = liar[i] ? LIAR_FACTOR : 1;
    return { capacity: c, stake: drawnStake(p, factor * c, u[i]), type: i % p.types, declareFactor: factor, hidesBacklog: liar[i] === 1 };
  });
  if (p.load !== null) scaleDemand(sinks, sources, p.types, p.load);
  return { sinks, sources };
}

/** Scales every type's source rates so that its demand is `load` times its true capacity. */
function scaleDemand(sinks: readonly SinkSpec[], sources: { rate: number; type: number }[], types: number, load: number): void {
  const cap = new Float64Array(types);
  const dem = new Float64Array(types);
  for (const s of sinks) cap[s.type] += s.capacity;
  for (const s of sources) dem[s.type] += s.rate;
  for (const s of sources) if (dem[s.type] > 0) s.rate *= (load * cap[s.type]) / dem[s.type];
}

export function buildScenario(p: ScenarioParams, rng: Rng): Scenario {
  const { sinks, sources } = drawScenarioSpecs(p, rng);
  return makeScenario(sinks, sources, p.types, p.capRule, p.minStake, capUnit(p.capRule, p.stakeUnit));
}

/** Internal indices of the given sink ids. */
export function internalIndices(sc: Scenario, ids: ArrayLike<number>): Int32Array {
  const pos = new Int32Array(sc.n);
  for (let i = 0; i < sc.n; i++) pos[sc.sinkId[i]] = i;
  const out = new Int32Array(ids.length);
  for (let k = 0; k < ids.length; k++) out[k] = pos[ids[k]];
  return out;
}
