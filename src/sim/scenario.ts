/**
 * Scenarios: sinks (true capacity, stake, task type), sources (rate, task type). The paper scenario
 * (SPEC section 4) is the default: 50 sinks, 10 sources, 3 task types (sink i and source j serve type
 * i mod 3 and j mod 3), true capacity ~U(10, 100), stake ~U(100, 1000) with S_min = 100 and
 * cap = sqrt(stake), source rate ~U(50, 200). Capacity is tasks per step at a price of 1, so it is also
 * the payment a sink can absorb per step.
 *
 * Layout: struct of arrays, sinks grouped by task type (type t occupies [typeStart[t], typeStart[t+1])),
 * so every per-type computation runs over a contiguous Float64Array view.
 */
import { stakeCapFloat } from '../core/index.ts';
import type { Rng } from './rng.ts';

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
});

export interface SinkSpec {
  capacity: number;
  stake: number;
  type: number;
  /** Declares its full stake cap whatever its true capacity (an over-declaring sink, E3). */
  overDeclares?: boolean;
  /** Label for reports (e.g. "attacker"). */
  group?: number;
}

export interface Scenario {
  readonly types: number;
  readonly n: number;
  readonly minStake: number;
  readonly stakeUnit: number;
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
  readonly overDeclares: Uint8Array;
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
  minStake: number,
  stakeUnit: number,
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
  const overDeclares = new Uint8Array(n);
  const group = new Int32Array(n);
  sinks.forEach((s, id) => {
    const i = fill[s.type]++;
    sinkId[i] = id;
    capacity[i] = s.capacity;
    stake[i] = s.stake;
    cap[i] = stakeCapFloat(s.stake, minStake, stakeUnit);
    overDeclares[i] = s.overDeclares ? 1 : 0;
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
    minStake,
    stakeUnit,
    typeStart,
    sinkId,
    capacity,
    baseCapacity: capacity.slice(),
    stake,
    cap,
    overDeclares,
    group,
    sourceRate,
    sourceType,
    baseDemand,
  };
}

/** Draws the sinks and sources of a scenario (in this order: per sink capacity then stake; per source rate). */
export function drawScenarioSpecs(
  p: ScenarioParams,
  rng: Rng,
): { sinks: SinkSpec[]; sources: { rate: number; type: number }[] } {
  const sinks: SinkSpec[] = [];
  for (let i = 0; i < p.sinks; i++) {
    const capacity = rng.range(p.capacityMin, p.capacityMax);
    const stake = rng.range(p.stakeMin, p.stakeMax);
    sinks.push({ capacity, stake, type: i % p.types });
  }
  const sources: { rate: number; type: number }[] = [];
  for (let j = 0; j < p.sources; j++) sources.push({ rate: rng.range(p.rateMin, p.rateMax), type: j % p.types });
  return { sinks, sources };
}

export function buildScenario(p: ScenarioParams, rng: Rng): Scenario {
  const { sinks, sources } = drawScenarioSpecs(p, rng);
  return makeScenario(sinks, sources, p.types, p.minStake, p.stakeUnit);
}

/** Internal indices of the given sink ids. */
export function internalIndices(sc: Scenario, ids: ArrayLike<number>): Int32Array {
  const pos = new Int32Array(sc.n);
  for (let i = 0; i < sc.n; i++) pos[sc.sinkId[i]] = i;
  const out = new Int32Array(ids.length);
  for (let k = 0; k < ids.length; k++) out[k] = pos[ids[k]];
  return out;
}
