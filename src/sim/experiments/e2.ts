/**
 * E2 shock (SPEC section 4): 20 % of the sinks (drawn at random) fail at t = steps / 2 — their true
 * capacity drops to 0 and so does their signal. Recovery = steps after the shock until eta AND the
 * productive payment both stay within 1 % of the optimum's (for 10 steps): eta alone would credit a
 * rule that stops paying. Strategies whose steady state is itself more than 1 % below the optimum
 * never get there; for them `ownRecoverySteps` measures the return to their own post-shock eta.
 * A seed is `feasible` when every type's demand stays within its post-shock true capacity; otherwise
 * no rule can serve it all and the buffer grows without bound (reported, not counted as a failure).
 */
import { simulate, type RunResult, type StrategySeries } from '../engine.ts';
import type { Scenario } from '../scenario.ts';
import { efficiency, firstSustained, round, servedRatio, stepsWithinLevel } from '../metrics.ts';
import { STRATEGIES } from '../strategies.ts';
import { byName, engineBase, linePoints, mdTable, newWorld, num, pct, progressFor, SERIES_COLUMNS, seriesRows } from './common.ts';
import type { Claim, ExperimentOutput, SimConfig } from './types.ts';

export const FAIL_FRACTION = 0.2;
export const RECOVERY_TOL = 0.01;
export const RECOVERY_WINDOW = 10;
/** The seeds' claim (001): "shock recovery within 50 steps". */
export const SEED_RECOVERY_STEPS = 50;

/** Steps after t0 until eta and the productive payment both stay within RECOVERY_TOL of the reference's. */
export function recoverySteps(s: StrategySeries, ref: StrategySeries, t0: number): number | null {
  return firstSustained(
    s.eta.length,
    t0,
    RECOVERY_WINDOW,
    (t) => s.eta[t] >= (1 - RECOVERY_TOL) * ref.eta[t] && s.productive[t] >= (1 - RECOVERY_TOL) * ref.productive[t],
  );
}

export interface ShockRun {
  run: RunResult;
  scenario: Scenario;
  shockAt: number;
  failed: Int32Array;
  /** Every type's demand fits its post-shock true capacity. */
  feasible: boolean;
}

/** The shock run of one seed (every strategy). */
export function shockRun(cfg: SimConfig, label?: string): ShockRun {
  const { rng, scenario } = newWorld(cfg);
  const steps = cfg.steps;
  const shockAt = Math.floor(steps / 2);
  // Internal indices (any fixed subset is as good as another).
  const failed = rng.sample(scenario.n, Math.max(1, Math.round(FAIL_FRACTION * scenario.n)));
  const run = simulate(
    scenario,
    {
      steps,
      strategies: STRATEGIES,
      ...engineBase(cfg, scenario),
      beforeStep: (t, sim) => {
        if (t === shockAt) for (const i of failed) sim.scenario.capacity[i] = 0;
      },
      onProgress: label ? progressFor(cfg, label) : undefined,
    },
    rng,
  );
  const postCapacity = new Float64Array(scenario.types);
  for (let t = 0; t < scenario.types; t++) {
    for (let i = scenario.typeStart[t]; i < scenario.typeStart[t + 1]; i++) postCapacity[t] += scenario.capacity[i];
  }
  const feasible = scenario.baseDemand.every((dem, t) => dem <= postCapacity[t]);
  return { run, scenario, shockAt, failed, feasible };
}

export function runE2(cfg: SimConfig): ExperimentOutput {
  const { run, scenario, shockAt, failed, feasible } = shockRun(cfg, 'e2');
  const steps = cfg.steps;
  const opt = byName(run, 'optimal');
  const tail = Math.max(shockAt, steps - 100);
  const strategies: Record<string, Record<string, number | null>> = {};
  for (const s of run.series) {
    const post = efficiency(s, tail, steps);
    let minEta = Infinity;
    for (let t = shockAt; t < steps; t++) minEta = Math.min(minEta, s.eta[t]);
    strategies[s.name] = {
      recoverySteps: recoverySteps(s, opt, shockAt),
      ownRecoverySteps: stepsWithinLevel(s.eta, post, shockAt, RECOVERY_TOL, RECOVERY_WINDOW),
      preShockEfficiency: round(efficiency(s, Math.max(0, shockAt - 100), shockAt)),
      postShockEfficiency: round(post),
      minEfficiencyAfterShock: round(minEta),
      postShockServedRatio: round(servedRatio(s, tail, steps)),
      finalBacklog: round(s.backlog[steps - 1], 3),
    };
  }
  let lostCapacity = 0;
  for (const i of failed) lostCapacity += scenario.baseCapacity[i];
  let totalCapacity = 0;
  for (let i = 0; i < scenario.n; i++) totalCapacity += scenario.baseCapacity[i];

  const summary = {
    shockAt,
    feasible,
    failedSinks: failed.length,
    lostCapacityShare: round(lostCapacity / totalCapacity, 4),
    recoveryTolerance: RECOVERY_TOL,
    recoveryWindow: RECOVERY_WINDOW,
    strategies,
  };
  const rows = STRATEGIES.map((name) => {
    const r = strategies[name];
    return [
      `\`${name}\``,
      num(r.recoverySteps),
      num(r.ownRecoverySteps),
      pct(r.preShockEfficiency, 2),
      pct(r.minEfficiencyAfterShock, 1),
      pct(r.postShockEfficiency, 2),
    ];
  });
  const bp = strategies.backpressure;
  const prop = strategies.proportional;
  const oc = strategies.onchain;
  const markdown = [
    `${failed.length} of ${scenario.n} sinks (${pct(lostCapacity / totalCapacity, 0)} of true capacity) fail at step ${shockAt}: capacity and signal drop to 0, their smoothed capacity decays at the EWMA's pace, their backlog grows with every payment. ${feasible ? 'Every type can still serve its demand.' : 'Some type is left with less true capacity than demand (infeasible: no rule can serve it all).'} Recovery = steps until eta and the productive pay both stay within ${RECOVERY_TOL * 100} % of the optimum's for ${RECOVERY_WINDOW} steps; "own" = eta within ${RECOVERY_TOL * 100} % of the strategy's own post-shock level.`,
    '',
    mdTable(['strategy', 'recovery to optimum (steps)', 'recovery to own level (steps)', 'eta before', 'min eta after', 'eta after'], rows),
    '',
    `\`backpressure\` stops paying a failed sink one step after it fails: the sink completes nothing while work is left over, so it is measured at 0, whatever it reports; \`proportional\` keeps paying it until its EWMA has decayed (0.7^t). ` +
      `\`onchain\` (the contracts' rule) recovers to the optimum's eta in ${num(oc.recoverySteps)} steps: a failed sink's growing backlog cuts its weight C / (1 + q / C) long before its declaration decays; but it loses the failed sinks' declared capacity from what the sinks may absorb, so more money is parked in the buffer (sigma after the shock ${pct(oc.postShockServedRatio, 1)}, against ${pct(bp.postShockServedRatio, 1)} for \`backpressure\`).`,
  ].join('\n');
  const propOwn = prop.ownRecoverySteps;
  const claims: Claim[] = [
    {
      claim: 'shock recovery within 50 steps',
      source: 'seed 001 (Evaluation)',
      simulated: `proportional: back to its own level in ${num(propOwn)} steps, to within 1 % of the optimum ${prop.recoverySteps === null ? 'never' : `in ${prop.recoverySteps} steps`}; backpressure: ${num(bp.recoverySteps)} steps to the optimum`,
      verdict:
        propOwn !== null && propOwn <= SEED_RECOVERY_STEPS
          ? prop.recoverySteps !== null && prop.recoverySteps <= SEED_RECOVERY_STEPS
            ? 'holds'
            : 'partly'
          : 'does not hold',
    },
  ];
  const from = Math.max(0, shockAt - 50);
  const to = Math.min(steps, shockAt + 100);
  return {
    id: 'e2',
    title: 'E2 shock',
    summary,
    csv: { columns: [...SERIES_COLUMNS], rows: () => seriesRows(run) },
    plots: [
      {
        file: 'e2_shock.svg',
        title: 'E2: shock response',
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: `E2: eta(t) around the failure of ${failed.length} sinks at step ${shockAt}`,
          width: 640,
          height: 300,
          layer: [
            {
              data: { values: linePoints(run, (s) => s.eta, from, to) },
              mark: { type: 'line', strokeWidth: 1.4, point: false },
              encoding: {
                x: { field: 'step', type: 'quantitative', title: 'step', scale: { domain: [from, to - 1], nice: false } },
                y: { field: 'value', type: 'quantitative', title: 'eta(t)', scale: { zero: false } },
                color: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES] },
              },
            },
            {
              data: { values: [{ step: shockAt }] },
              mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
              encoding: { x: { field: 'step', type: 'quantitative' } },
            },
          ],
        },
      },
    ],
    markdown,
    claims,
  };
}
