/**
 * E8 truthfulness: does over-declaring capacity pay? A sink with mean capacity C (drawn per seed from
 * the scenario's U(10, 100); realised capacity per epoch C x max(0, 1 + 0.05 N), the signal noise)
 * declares (1 + o) C and, in the worst case for verification, is paid every declared task each epoch
 * (the open-loop rules do this whenever demand reaches the declaration). It completes what its
 * capacity allows, working off any backlog first. One epoch = one step, price 1.
 *
 * Per epoch the liar's gain over declaring the truth (same capacity draws) is
 *   profit = (pay as liar - pay as honest) - (penalties as liar - penalties as honest)
 * under the default shortfall penalty and under the seeds' strike rule (stake = what the linear cap
 * needs for the declaration, STAKE_PER_TASK x declared). An honest sink's loss is its penalties over
 * its revenue. Means over SEEDS seeds of EPOCHS epochs each.
 */
import {
  expectedCompletions,
  PENALTY_FACTOR_BPS,
  SHORTFALL_TOLERANCE_BPS,
  shortfallPenalty,
  strikeSlash,
  type StrikeState,
} from '../../core/index.ts';
import { Rng } from '../rng.ts';
import { round } from '../metrics.ts';
import { PAPER_SCENARIO, STAKE_PER_TASK } from '../scenario.ts';
import type { Cell } from '../csv.ts';
import type { TopLevelSpec } from '../plot.ts';
import { mdTable, num, pct } from './common.ts';
import type { Claim, ExperimentOutput, SimConfig } from './types.ts';

export const OVER_DECLARATIONS = [0.1, 0.25, 1, 4] as const;
export const SEEDS = 200;
export const EPOCHS = 500;
/** An honest sink's loss to penalties must stay below this share of its revenue. */
export const HONEST_LOSS_LIMIT = 0.01;

interface RuleParams {
  toleranceBps: number;
  factorBps: number;
}
const DEFAULT_RULE: RuleParams = { toleranceBps: SHORTFALL_TOLERANCE_BPS, factorBps: PENALTY_FACTOR_BPS };

/** One sink's epochs: pay, penalties under both rules, and whether the seeds' rule ever slashed. */
interface Ledger {
  pay: number;
  shortfall: number;
  strikes: number;
  slashed: boolean;
}

/** Runs one sink declaring `factor` x its mean capacity over the given capacity draws. */
function runSink(mean: number, draws: Float64Array, factor: number, rule: RuleParams): Ledger {
  const declared = factor * mean;
  const stake = STAKE_PER_TASK * declared;
  const state: StrikeState = { strikes: 0 };
  let backlog = 0;
  const out: Ledger = { pay: 0, shortfall: 0, strikes: 0, slashed: false };
  for (const c of draws) {
    const paid = declared;
    const completed = Math.min(backlog + paid, c);
    backlog += paid - completed;
    const expected = expectedCompletions(declared, 1, paid, 1);
    out.pay += paid;
    out.shortfall += shortfallPenalty(expected, completed, 1, rule.toleranceBps, rule.factorBps);
    const slash = strikeSlash(state, expected, completed, stake);
    out.strikes += slash;
    if (slash > 0) out.slashed = true;
  }
  return out;
}

/** Capacity draws of one seed: its mean capacity and EPOCHS realised capacities. */
function seedDraws(seed: number, noise: number): { mean: number; draws: Float64Array } {
  const rng = new Rng(seed);
  const mean = rng.range(PAPER_SCENARIO.capacityMin, PAPER_SCENARIO.capacityMax);
  const draws = new Float64Array(EPOCHS);
  for (let e = 0; e < EPOCHS; e++) draws[e] = mean * Math.max(0, 1 + noise * rng.normal());
  return { mean, draws };
}

export interface LiarRow {
  overDeclaration: number;
  /** Per epoch, relative to the honest revenue (mean capacity x price). */
  extraPay: number;
  shortfallPenalty: number;
  shortfallProfit: number;
  strikePenalty: number;
  strikeProfit: number;
  /** Share of seeds in which the seeds' rule ever slashed the liar. */
  strikeSlashedSeeds: number;
}

/** The liar table and the honest loss under a rule, over seeds first .. first + SEEDS - 1. */
export function truthfulness(first: number, noise: number, rule: RuleParams = DEFAULT_RULE): { liars: LiarRow[]; honestLoss: number; honestStrikeLoss: number } {
  const seeds = Array.from({ length: SEEDS }, (_, k) => seedDraws(first + k, noise));
  let honestPen = 0;
  let honestStrike = 0;
  let honestRev = 0;
  const honest = seeds.map(({ mean, draws }) => runSink(mean, draws, 1, rule));
  for (const h of honest) {
    honestPen += h.shortfall;
    honestStrike += h.strikes;
    honestRev += h.pay;
  }
  const liars = OVER_DECLARATIONS.map((o) => {
    let extra = 0;
    let sp = 0;
    let kp = 0;
    let slashed = 0;
    seeds.forEach(({ mean, draws }, k) => {
      const l = runSink(mean, draws, 1 + o, rule);
      extra += l.pay - honest[k].pay;
      sp += l.shortfall - honest[k].shortfall;
      kp += l.strikes - honest[k].strikes;
      if (l.slashed) slashed++;
    });
    return {
      overDeclaration: o,
      extraPay: round(extra / honestRev, 6),
      shortfallPenalty: round(sp / honestRev, 6),
      shortfallProfit: round((extra - sp) / honestRev, 6),
      strikePenalty: round(kp / honestRev, 6),
      strikeProfit: round((extra - kp) / honestRev, 6),
      strikeSlashedSeeds: round(slashed / SEEDS, 4),
    };
  });
  return { liars, honestLoss: round(honestPen / honestRev, 6), honestStrikeLoss: round(honestStrike / honestRev, 6) };
}

/**
 * Alternatives around the default (6 %, 3x): with 5 % capacity noise per epoch a 5 % tolerance at 3x
 * costs an honest sink 1.25 % (over the 1 % limit), 5 % at about 2.3x stays under it while every
 * tabulated lie still loses; 7.5 % or 2x lets +10 % pay.
 */
export const ALTERNATIVES: readonly RuleParams[] = [
  { toleranceBps: 500, factorBps: 30_000 },
  { toleranceBps: 750, factorBps: 30_000 },
  { toleranceBps: 500, factorBps: 25_000 },
  { toleranceBps: 500, factorBps: 23_000 },
  { toleranceBps: 500, factorBps: 20_000 },
];

export function runE8(cfg: SimConfig): ExperimentOutput {
  const main = truthfulness(cfg.seed, cfg.noise);
  const alternatives = [DEFAULT_RULE, ...ALTERNATIVES].map((rule) => {
    const r = rule === DEFAULT_RULE ? main : truthfulness(cfg.seed, cfg.noise, rule);
    return {
      toleranceBps: rule.toleranceBps,
      factorBps: rule.factorBps,
      honestLoss: r.honestLoss,
      worstLiarProfit: Math.max(...r.liars.map((l) => l.shortfallProfit)),
      liarsLose: r.liars.every((l) => l.shortfallProfit < 0),
      honestUnderLimit: r.honestLoss < HONEST_LOSS_LIMIT,
    };
  });
  const liarsLose = main.liars.every((l) => l.shortfallProfit < 0);
  const honestOk = main.honestLoss < HONEST_LOSS_LIMIT;
  const summary = {
    seeds: [cfg.seed, cfg.seed + SEEDS - 1],
    epochs: EPOCHS,
    capacityNoise: cfg.noise,
    stakePerTask: STAKE_PER_TASK,
    rule: DEFAULT_RULE,
    liars: main.liars,
    honestLoss: main.honestLoss,
    honestStrikeLoss: main.honestStrikeLoss,
    liarsLoseUnderShortfall: liarsLose,
    honestLossUnderLimit: honestOk,
    alternatives,
  };
  const rows: Cell[][] = main.liars.map((l) => [
    l.overDeclaration,
    l.extraPay,
    l.shortfallPenalty,
    l.shortfallProfit,
    l.strikePenalty,
    l.strikeProfit,
    l.strikeSlashedSeeds,
  ]);
  const markdown = [
    `A sink with mean capacity C ~ U(10, 100) per seed and ${pct(cfg.noise, 0)} capacity noise per epoch declares (1 + o) C and is paid every declared task (the worst case for verification). Per epoch, relative to the honest revenue C x price, means over ${SEEDS} seeds of ${EPOCHS} epochs; profit = extra pay - extra penalties against declaring the truth on the same capacity draws. Shortfall penalty: tolerance ${SHORTFALL_TOLERANCE_BPS / 100} %, factor ${PENALTY_FACTOR_BPS / 10_000}; seeds' rule: strike below ${50} % of expected, 10 % of stake (${STAKE_PER_TASK} x declared) after 3 strikes.`,
    '',
    mdTable(
      ['over-declaration', 'extra pay', 'shortfall penalty', 'profit (shortfall rule)', "seeds' rule slash", "profit (seeds' rule)", "seeds where the seeds' rule ever slashes"],
      main.liars.map((l) => [pct(l.overDeclaration, 0), pct(l.extraPay, 1), pct(l.shortfallPenalty, 1), pct(l.shortfallProfit, 1), pct(l.strikePenalty, 1), pct(l.strikeProfit, 1), pct(l.strikeSlashedSeeds, 0)]),
    ),
    '',
    `An honest sink loses ${pct(main.honestLoss, 2)} of its revenue to the shortfall penalty (limit ${pct(HONEST_LOSS_LIMIT, 0)}: ${honestOk ? 'met' : 'missed'}) and ${pct(main.honestStrikeLoss, 2)} to the seeds' rule.`,
    '',
    mdTable(
      ['tolerance', 'factor', 'honest loss', 'worst liar profit', 'every lie loses', 'honest loss < 1 %'],
      alternatives.map((a) => [`${a.toleranceBps / 100} %`, num(a.factorBps / 10_000, 1), pct(a.honestLoss, 2), pct(a.worstLiarProfit, 1), a.liarsLose ? 'yes' : 'no', a.honestUnderLimit ? 'yes' : 'no']),
    ),
  ].join('\n');
  const claims: Claim[] = [
    {
      claim: 'verification (strike below 50 % of expected completions, slash 10 % after 3 strikes) deters over-declaration',
      source: 'seed 000 (CompletionTracker)',
      simulated: `profit per epoch under the seeds' rule: ${main.liars.map((l) => `${pct(l.strikeProfit, 0)} at +${pct(l.overDeclaration, 0)}`).join(', ')}`,
      verdict: main.liars.every((l) => l.strikeProfit < 0) ? 'holds' : main.liars.some((l) => l.strikeProfit < 0) ? 'partly' : 'does not hold',
    },
  ];
  const points = main.liars.flatMap((l) => [
    { over: `+${Math.round(l.overDeclaration * 100)} %`, rule: 'shortfall penalty (default)', profit: l.shortfallProfit },
    { over: `+${Math.round(l.overDeclaration * 100)} %`, rule: "seeds' strike rule", profit: l.strikeProfit },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'E8: what over-declaring earns per epoch (share of honest revenue)',
    width: 480,
    height: 260,
    data: { values: points },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'over', type: 'nominal', title: 'over-declaration', sort: points.map((p) => p.over), axis: { labelAngle: 0 } },
          xOffset: { field: 'rule', type: 'nominal' },
          y: { field: 'profit', type: 'quantitative', title: 'liar profit / honest revenue' },
          color: { field: 'rule', type: 'nominal', title: 'verification rule' },
        },
      },
      { mark: { type: 'rule', color: 'gray' }, encoding: { y: { datum: 0 } } },
    ],
  };
  return {
    id: 'e8',
    title: 'E8 truthfulness',
    summary,
    csv: {
      columns: ['overDeclaration', 'extraPay', 'shortfallPenalty', 'shortfallProfit', 'strikePenalty', 'strikeProfit', 'strikeSlashedSeeds'],
      rows: () => rows,
    },
    plots: [{ file: 'e8_truthfulness.svg', title: 'E8: profit of over-declaring', spec }],
    markdown,
    claims,
  };
}
