/**
 * E7 pricing (SPEC sections 1 and 4): a base fee per task type moves once per step (epoch) toward a
 * target utilisation, EIP-1559 style (core/pricing.ts, at most 12.5 % per epoch). Sources have a
 * money budget per step (their rate); at base fee p they buy budget / p tasks. Utilisation is what
 * the chain can see: tasks bought (the sources' streams into the pool, whether the sinks take them
 * at once or the buffer holds them) / total declared capacity; counting the buffer's later drains
 * again would feed held money back into the price. At t = steps / 2 the budgets double (a
 * demand shock). The equilibrium fee is p* = budget / (target x declared capacity); convergence =
 * steps until the fee stays within 1 % of p* (10 steps). Allocation: backpressure, in task units.
 */
import { nextBaseFee } from '../../core/index.ts';
import { simulate } from '../engine.ts';
import { efficiency, mean, round, servedRatio, firstSustained } from '../metrics.ts';
import type { Cell } from '../csv.ts';
import { engineBase, mdTable, newWorld, num, pct, progressFor } from './common.ts';
import type { ExperimentOutput, SimConfig } from './types.ts';

export const TARGET_UTILISATION = 0.8;
export const MAX_CHANGE = 0.125;
export const SHOCK_FACTOR = 2;
const TOL = 0.01;
const WINDOW = 10;

export function runE7(cfg: SimConfig): ExperimentOutput {
  const { rng, scenario } = newWorld(cfg);
  const steps = cfg.steps;
  const T = scenario.types;
  const shockAt = Math.floor(steps / 2);
  const fee = new Float64Array(T).fill(1);
  const feeSeries = Array.from({ length: T }, () => new Float64Array(steps));
  const utilSeries = Array.from({ length: T }, () => new Float64Array(steps));
  const tasksSeries = Array.from({ length: T }, () => new Float64Array(steps));
  const declaredSeries = Array.from({ length: T }, () => new Float64Array(steps));
  const budget = (t: number, ty: number) => scenario.baseDemand[ty] * (t >= shockAt ? SHOCK_FACTOR : 1);
  const run = simulate(
    scenario,
    {
      steps,
      strategies: ['backpressure'],
      ...engineBase(cfg, scenario),
      beforeStep: (t, sim) => {
        for (let ty = 0; ty < T; ty++) {
          sim.demand[ty] = budget(t, ty) / fee[ty];
          feeSeries[ty][t] = fee[ty];
        }
      },
      afterStep: (t, sim) => {
        for (let ty = 0; ty < T; ty++) {
          const declared = sim.declaredTotal[ty];
          const bought = sim.demand[ty] - sim.lastRefused[ty];
          const u = declared > 0 ? bought / declared : 1;
          utilSeries[ty][t] = u;
          tasksSeries[ty][t] = sim.demand[ty];
          declaredSeries[ty][t] = declared;
          fee[ty] = nextBaseFee(fee[ty], u, { target: TARGET_UTILISATION, maxChange: MAX_CHANGE });
        }
      },
      onProgress: progressFor(cfg, 'e7'),
    },
    rng,
  );
  const bp = run.series[0];
  const perType = [];
  const rows: Cell[][] = [];
  const points: { step: number; type: string; series: string; value: number }[] = [];
  for (let ty = 0; ty < T; ty++) {
    const declBefore = mean(declaredSeries[ty], Math.max(0, shockAt - 100), shockAt);
    const declAfter = mean(declaredSeries[ty], Math.max(shockAt, steps - 100), steps);
    const eqBefore = budget(0, ty) / (TARGET_UTILISATION * declBefore);
    const eqAfter = budget(shockAt, ty) / (TARGET_UTILISATION * declAfter);
    const fs = feeSeries[ty];
    const conv = (from: number, eq: number) => firstSustained(steps, from, WINDOW, (t) => Math.abs(fs[t] - eq) <= TOL * eq);
    let peak = 0;
    for (let t = shockAt; t < steps; t++) peak = Math.max(peak, fs[t]);
    perType.push({
      type: ty,
      equilibriumBefore: round(eqBefore, 4),
      equilibriumAfter: round(eqAfter, 4),
      convergenceSteps: conv(0, eqBefore),
      convergenceStepsAfterShock: conv(shockAt, eqAfter),
      overshootAfterShock: round(peak / eqAfter - 1, 4),
      finalFee: round(fs[steps - 1], 4),
      finalUtilisation: round(utilSeries[ty][steps - 1], 4),
    });
    for (let t = 0; t < steps; t++) {
      rows.push([t, ty, fs[t], t < shockAt ? eqBefore : eqAfter, utilSeries[ty][t], tasksSeries[ty][t], declaredSeries[ty][t]]);
    }
    const stride = Math.max(1, Math.floor(steps / 1000));
    for (let t = 0; t < steps; t += stride) {
      points.push({ step: t, type: `type ${ty}`, series: 'base fee', value: round(fs[t], 5) });
      points.push({ step: t, type: `type ${ty}`, series: 'equilibrium', value: round(t < shockAt ? eqBefore : eqAfter, 5) });
    }
  }
  const summary = {
    targetUtilisation: TARGET_UTILISATION,
    maxChangePerEpoch: MAX_CHANGE,
    shockAt,
    shockFactor: SHOCK_FACTOR,
    convergenceTolerance: TOL,
    types: perType,
    backpressure: {
      efficiency: round(efficiency(bp)),
      servedRatio: round(servedRatio(bp)),
    },
  };
  const markdown = [
    `Base fee per type, target utilisation ${pct(TARGET_UTILISATION, 0)} of declared capacity, at most ${pct(MAX_CHANGE, 1)} per epoch; budgets x${SHOCK_FACTOR} at step ${shockAt}. Convergence = steps until the fee stays within ${TOL * 100} % of the equilibrium for ${WINDOW} steps.`,
    '',
    mdTable(
      ['type', 'p* before', 'converged (steps)', 'p* after shock', 'converged after shock (steps)', 'overshoot'],
      perType.map((p) => [p.type, num(p.equilibriumBefore, 3), num(p.convergenceSteps), num(p.equilibriumAfter, 3), num(p.convergenceStepsAfterShock), pct(p.overshootAfterShock, 1)]),
    ),
    '',
    `With demand of unit elasticity (a fixed budget) the controller is a contraction of factor 1 - ${MAX_CHANGE} near equilibrium, so it converges geometrically; the overshoot (at most ${pct(Math.max(...perType.map((p) => p.overshootAfterShock)), 1)}) is the noise of the declared capacity it divides by. The bounded step makes a doubling take at least ln 2 / ln(1 + ${MAX_CHANGE}) = ${num(Math.log(2) / Math.log(1 + MAX_CHANGE), 1)} epochs. Backpressure keeps eta at ${pct(summary.backpressure.efficiency, 2)} meanwhile.`,
  ].join('\n');
  return {
    id: 'e7',
    title: 'E7 pricing',
    summary,
    csv: { columns: ['step', 'type', 'baseFee', 'equilibrium', 'utilisation', 'tasksDemanded', 'declaredCapacity'], rows: () => rows },
    plots: [
      {
        file: 'e7_pricing.svg',
        title: 'E7: base fee under a demand shock',
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `E7: base fee per type, budgets x${SHOCK_FACTOR} at step ${shockAt}`,
          width: 640,
          height: 280,
          data: { values: points },
          mark: { type: 'line', strokeWidth: 1.3 },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'step (epoch)' },
            y: { field: 'value', type: 'quantitative', title: 'base fee per task' },
            color: { field: 'type', type: 'nominal', title: 'task type' },
            strokeDash: { field: 'series', type: 'nominal', title: null, sort: ['base fee', 'equilibrium'] },
          },
        },
      },
    ],
    markdown,
    claims: [],
  };
}
