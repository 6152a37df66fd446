/**
 * E3 Sybil (SPEC section 4), honest accounting, under both stake cap rules.
 *
 * Analytic part: a total stake S split over n identities, each with S / n. Under the seeds' `sqrt`
 * cap they back n * sqrt(S / n) = sqrt(n) * sqrt(S), sqrt(n) times MORE than one identity (the concave
 * cap rewards splitting; the minimum stake S_min only bounds n <= S / S_min). Under the `linear` cap
 * they back n * (S / n) / STAKE_PER_TASK = S / STAKE_PER_TASK, exactly what one identity backs (gain
 * 1, and at most 1 in the exact floor form); and since every identity must hold S_min, backing a given
 * capacity K with n identities needs n * max(S_min, STAKE_PER_TASK * K / n) of stake, strictly more
 * than one identity once K * STAKE_PER_TASK / n < S_min.
 *
 * Simulated part: the attacker (stake S, true capacity C_a) replaces sink 0 and declares its full
 * cap on every identity whatever its real capacity; identities (and honest sinks) below S_min cannot
 * register; honest stakes are drawn as the rule's scenario draws them. Its income per step (mean of
 * the last 100 steps) under each strategy shows what the extra declared capacity buys.
 */
import { CAP_RULES, capFloat, linearStakeCap, stakeCap, type CapRule } from '../../core/index.ts';
import { simulate } from '../engine.ts';
import { round } from '../metrics.ts';
import { buildScenario, capUnit, drawScenarioSpecs, internalIndices, makeScenario, STAKE_PER_TASK, type ScenarioParams, type SinkSpec } from '../scenario.ts';
import { Rng } from '../rng.ts';
import type { StrategyName } from '../strategies.ts';
import type { Cell } from '../csv.ts';
import { engineBase, mdTable, num, progressFor, scenarioParams } from './common.ts';
import type { Claim, ExperimentOutput, SimConfig } from './types.ts';

export const SYBIL_STAKE = 1000;
export const SPLITS = [1, 2, 5, 10, 20] as const;
export const MIN_STAKES = [50, 100, 200] as const;
export const ATTACKER_CAPACITY = 30;
/** Capacity whose stake cost E3 tabulates for n identities under the linear cap. */
export const TARGET_CAPACITY = 100;
export const E3_STRATEGIES: readonly StrategyName[] = ['proportional', 'round-robin', 'backpressure', 'optimal'];
const TAIL = 100;
const WEI = 10n ** 18n;

interface GridRow {
  cap: CapRule;
  minStake: number;
  identities: number;
  identityStake: number;
  eligible: boolean;
  capacityExact: number;
  capacity: number;
  capacityGain: number;
  profitable: boolean;
}

/** The exact on-chain caps of n identities (18-decimal token) and the float form, for one rule. */
export function sybilGrid(
  rule: CapRule = 'sqrt',
  stake = SYBIL_STAKE,
  splits: readonly number[] = SPLITS,
  minStakes: readonly number[] = MIN_STAKES,
): GridRow[] {
  const rows: GridRow[] = [];
  const single = capFloat(rule, stake, 0, capUnit(rule));
  for (const minStake of minStakes) {
    for (const n of splits) {
      const each = (BigInt(stake) * WEI) / BigInt(n);
      const min = BigInt(minStake) * WEI;
      const capEach = rule === 'sqrt' ? stakeCap(each, min, WEI) : linearStakeCap(each, min, BigInt(STAKE_PER_TASK) * WEI);
      const eligible = stake / n >= minStake;
      const capacity = eligible ? n * capFloat(rule, stake / n, 0, capUnit(rule)) : 0;
      rows.push({
        cap: rule,
        minStake,
        identities: n,
        identityStake: stake / n,
        eligible,
        capacityExact: Number(capEach * BigInt(n)),
        capacity: round(capacity, 4),
        capacityGain: round(capacity / single, 4),
        profitable: capacity > single * (1 + 1e-12),
      });
    }
  }
  return rows;
}

/** Stake n identities need to back `capacity` in total under the linear cap (each holds >= S_min). */
export function linearStakeFor(capacity: number, n: number, minStake: number): number {
  return n * Math.max(minStake, (STAKE_PER_TASK * capacity) / n);
}

/** Sinks of the default scenario whose stake cap is below their true capacity, under a rule. */
export function sinksBoundByCap(cfg: SimConfig, rule: CapRule): number {
  const sc = buildScenario({ ...scenarioParams(cfg), capRule: rule, liars: 0 }, new Rng(cfg.seed));
  let bound = 0;
  for (let i = 0; i < sc.n; i++) if (sc.cap[i] < sc.capacity[i]) bound++;
  return bound;
}

interface Income {
  declared: number;
  income: number;
  productive: number;
  share: number;
}

function simulateAttack(cfg: SimConfig, params: ScenarioParams, minStake: number, n: number): Record<string, Income> {
  const steps = cfg.steps;
  const from = Math.max(0, steps - TAIL);
  const rng = new Rng(cfg.seed);
  const specs = drawScenarioSpecs(params, rng);
  const attackerType = specs.sinks[0].type;
  const sinks: SinkSpec[] = specs.sinks.slice(1).filter((s) => s.stake >= minStake);
  const firstAttacker = sinks.length;
  if (SYBIL_STAKE / n >= minStake) {
    for (let k = 0; k < n; k++) {
      sinks.push({ capacity: ATTACKER_CAPACITY / n, stake: SYBIL_STAKE / n, type: attackerType, declareFactor: Infinity, group: 1 });
    }
  }
  // A type left without any sink keeps one sink of zero capacity so the layout stays valid.
  for (let t = 0; t < params.types; t++) {
    if (!sinks.some((s) => s.type === t)) sinks.push({ capacity: 0, stake: 0, type: t });
  }
  const scenario = makeScenario(sinks, specs.sources, params.types, params.capRule, minStake, capUnit(params.capRule, params.stakeUnit));
  const ids: number[] = [];
  for (let id = firstAttacker; id < sinks.length; id++) if (sinks[id].group === 1) ids.push(id);
  const attacker = internalIndices(scenario, ids);
  const S = E3_STRATEGIES.length;
  const income = new Float64Array(S);
  const productive = new Float64Array(S);
  let declared = 0;
  let typeInflow = 0;
  simulate(
    scenario,
    {
      steps,
      strategies: E3_STRATEGIES,
      ...engineBase(cfg, scenario),
      afterStep: (t, st) => {
        if (t < from) return;
        typeInflow += st.demand[attackerType];
        for (const i of attacker) declared += st.declared[i];
        for (let s = 0; s < S; s++) {
          const pay = st.pay[s];
          for (const i of attacker) {
            income[s] += pay[i];
            productive[s] += Math.min(pay[i], st.scenario.capacity[i]);
          }
        }
      },
    },
    rng,
  );
  const w = steps - from;
  const out: Record<string, Income> = {};
  E3_STRATEGIES.forEach((name, s) => {
    out[name] = {
      declared: round(declared / w, 4),
      income: round(income[s] / w, 4),
      productive: round(productive[s] / w, 4),
      share: round(typeInflow > 0 ? income[s] / typeInflow : 0, 6),
    };
  });
  return out;
}

export function runE3(cfg: SimConfig): ExperimentOutput {
  const grid = Object.fromEntries(CAP_RULES.map((r) => [r, sybilGrid(r)])) as Record<CapRule, GridRow[]>;
  const sim: Record<string, Record<string, Record<string, Record<string, Income>>>> = {};
  const total = CAP_RULES.length * MIN_STAKES.length * SPLITS.length;
  let done = 0;
  for (const rule of CAP_RULES) {
    sim[rule] = {};
    const params = { ...scenarioParams(cfg), capRule: rule, liars: 0 };
    for (const minStake of MIN_STAKES) {
      sim[rule][minStake] = {};
      for (const n of SPLITS) {
        sim[rule][minStake][n] = simulateAttack(cfg, params, minStake, n);
        progressFor(cfg, 'e3')?.(++done, total);
      }
    }
  }
  // Income gain relative to the single identity, per rule, S_min and strategy.
  const gains: Record<string, Record<string, Record<string, Record<string, number | null>>>> = {};
  for (const rule of CAP_RULES) {
    gains[rule] = {};
    for (const minStake of MIN_STAKES) {
      gains[rule][minStake] = {};
      for (const name of E3_STRATEGIES) {
        gains[rule][minStake][name] = {};
        const base = sim[rule][minStake][1][name].income;
        for (const n of SPLITS) gains[rule][minStake][name][n] = base > 0 ? round(sim[rule][minStake][n][name].income / base, 4) : null;
      }
    }
  }
  const csvRows: Cell[][] = [];
  for (const rule of CAP_RULES) {
    for (const g of grid[rule]) {
      for (const name of E3_STRATEGIES) {
        const r = sim[rule][g.minStake][g.identities][name];
        csvRows.push([
          rule,
          g.minStake,
          g.identities,
          g.identityStake,
          g.eligible,
          g.capacityExact,
          g.capacity,
          g.capacityGain,
          name,
          r.declared,
          r.income,
          r.productive,
          round(r.income - r.productive, 4),
          gains[rule][g.minStake][name][g.identities],
        ]);
      }
    }
  }
  const maxGain = (rule: CapRule) => Math.max(...grid[rule].map((g) => g.capacityGain));
  const bound = Object.fromEntries(CAP_RULES.map((r) => [r, sinksBoundByCap(cfg, r)])) as Record<CapRule, number>;
  const stakeFor = MIN_STAKES.map((m) => ({ minStake: m, stake: Object.fromEntries(SPLITS.map((n) => [n, round(linearStakeFor(TARGET_CAPACITY, n, m), 3)])) }));
  const summary = {
    stake: SYBIL_STAKE,
    attackerCapacity: ATTACKER_CAPACITY,
    stakePerTask: STAKE_PER_TASK,
    splittingGain: { sqrt: maxGain('sqrt'), linear: maxGain('linear') },
    sinksBoundByCap: { ...bound, of: cfg.sinks },
    grid,
    stakeForCapacity: { capacity: TARGET_CAPACITY, rows: stakeFor },
    simulation: sim,
    incomeGain: gains,
  };

  const gridTable = (rule: CapRule) =>
    mdTable(
      ['S_min', ...SPLITS.map((n) => `n = ${n}`)],
      MIN_STAKES.map((m) => [
        m,
        ...SPLITS.map((n) => {
          const g = grid[rule].find((r) => r.minStake === m && r.identities === n)!;
          return g.eligible ? `${num(g.capacity, 1)} (x${num(g.capacityGain, 2)})` : 'cannot register';
        }),
      ]),
    );
  const incomeTable = (rule: CapRule) =>
    mdTable(
      ['strategy', ...SPLITS.map((n) => `n = ${n}`)],
      E3_STRATEGIES.map((name) => [
        `\`${name}\``,
        ...SPLITS.map((n) => {
          const r = sim[rule][100][n][name];
          return `${num(r.income, 1)} (${num(r.productive, 1)} productive)`;
        }),
      ]),
    );
  const n10 = SPLITS[SPLITS.length - 2];
  const markdown = [
    `Total stake S = ${SYBIL_STAKE} split into n identities of S/n each. Capacity backed (exact on-chain forms in the CSV; float below) and its ratio to one identity's cap.`,
    '',
    `**sqrt (the seeds' rule)**, cap = sqrt(stake):`,
    '',
    gridTable('sqrt'),
    '',
    `**linear (default)**, cap = stake / ${STAKE_PER_TASK}:`,
    '',
    gridTable('linear'),
    '',
    `Under sqrt, n identities back sqrt(n) times the capacity of one (best split x${num(maxGain('sqrt'), 2)}); S_min only bounds n. Under linear the gain is at most x${num(maxGain('linear'), 2)}, and every identity must hold S_min, so splitting costs stake: backing capacity ${TARGET_CAPACITY} takes ${stakeFor.map((r) => `${SPLITS.map((n) => num(r.stake[n], 0)).join(' / ')} (S_min = ${r.minStake})`).join('; ')} for n = ${SPLITS.join(' / ')}.`,
    '',
    `In the default scenario the cap binds ${bound.linear} of ${cfg.sinks} honest sinks under linear (stakes drawn as max(S_min, ${STAKE_PER_TASK} x capacity x U(1, 2))) and ${bound.sqrt} of ${cfg.sinks} under sqrt with the seeds' stakes U(100, 1000).`,
    '',
    `Attacker with true capacity ${ATTACKER_CAPACITY} that declares its full cap on every identity, S_min = 100 — income per step (mean of the last ${TAIL} steps), sqrt:`,
    '',
    incomeTable('sqrt'),
    '',
    'linear:',
    '',
    incomeTable('linear'),
    '',
    `Income gain at n = ${n10}: ${E3_STRATEGIES.map((s) => `\`${s}\` x${num(gains.sqrt[100][s][n10], 2)} (sqrt) / x${num(gains.linear[100][s][n10], 2)} (linear)`).join(', ')}. Open-loop proportional routing pays for declared capacity, round-robin per identity; \`backpressure\` pays what the identities' completions show they can do, so splitting buys it nothing under either rule.`,
  ].join('\n');

  const claims: Claim[] = [
    {
      claim: 'splitting stake S over n sinks yields strictly less capacity than a single identity',
      source: 'seed 000 (StakeManager)',
      simulated: `sqrt cap: n * sqrt(S/n) = sqrt(n) * sqrt(S), up to x${num(maxGain('sqrt'), 2)}; linear cap: at most x${num(maxGain('linear'), 2)}, and strictly more stake once S/n < S_min`,
      verdict: 'does not hold',
    },
    {
      claim: 'a minimum per-sink stake S_min penalises splitting',
      source: 'seed 000 (StakeManager)',
      simulated: `under sqrt S_min only bounds n <= S/S_min (best split still x${num(maxGain('sqrt'), 2)}); under linear it makes splitting strictly costly`,
      verdict: 'partly',
    },
  ];

  const capPoints = CAP_RULES.flatMap((rule) => grid[rule].filter((g) => g.minStake === 50).map((g) => ({ n: g.identities, rule, gain: g.capacityGain })));
  const incomePoints: { n: number; rule: string; strategy: string; gain: number | null }[] = [];
  for (const rule of CAP_RULES) for (const name of E3_STRATEGIES) for (const n of SPLITS) incomePoints.push({ n, rule: `${rule} cap`, strategy: name, gain: gains[rule][100][name][n] });
  const xLog = {
    field: 'n',
    type: 'quantitative' as const,
    title: 'identities n',
    scale: { type: 'log' as const, domain: [1, SPLITS[SPLITS.length - 1]], nice: false },
    axis: { values: [...SPLITS] },
  };
  return {
    id: 'e3',
    title: 'E3 Sybil',
    summary,
    csv: {
      columns: [
        'cap',
        'minStake',
        'identities',
        'identityStake',
        'eligible',
        'capacityExact',
        'capacity',
        'capacityGain',
        'strategy',
        'attackerDeclared',
        'attackerIncome',
        'attackerProductiveIncome',
        'attackerWastedIncome',
        'incomeGain',
      ],
      rows: () => csvRows,
    },
    plots: [
      {
        file: 'e3_sybil_capacity.svg',
        title: 'E3: capacity gained by splitting a stake',
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `E3: capacity backed by S = ${SYBIL_STAKE} split into n identities (S_min = 50), relative to one`,
          width: 480,
          height: 280,
          layer: [
            {
              data: { values: capPoints },
              mark: { type: 'line', point: true },
              encoding: {
                x: xLog,
                y: { field: 'gain', type: 'quantitative', title: 'capacity gain (x single identity)' },
                color: { field: 'rule', type: 'nominal', title: 'cap rule' },
              },
            },
            {
              data: { values: [{ y: 1 }] },
              mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
              encoding: { y: { field: 'y', type: 'quantitative' } },
            },
          ],
        },
      },
      {
        file: 'e3_sybil_income.svg',
        title: 'E3: Sybil income by strategy',
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `E3: over-declaring attacker's income relative to one identity (S_min = 100)`,
          data: { values: incomePoints.filter((p) => p.gain !== null) },
          facet: { column: { field: 'rule', type: 'nominal', title: null, sort: CAP_RULES.map((r) => `${r} cap`) } },
          spec: {
            width: 260,
            height: 240,
            mark: { type: 'line', point: true },
            encoding: {
              x: xLog,
              y: { field: 'gain', type: 'quantitative', title: 'income gain' },
              color: { field: 'strategy', type: 'nominal', sort: [...E3_STRATEGIES] },
            },
          },
        },
      },
    ],
    markdown,
    claims,
  };
}
