/**
 * E2 shock (SPEC section 4): 20 % of the sinks (drawn at random) fail at t = steps / 2 — their true
 * capacity drops to 0 and so does their signal. Recovery = steps after the shock until eta stays
 * within 1 % of the post-shock optimum's eta (for 10 steps). Strategies whose steady state is itself
 * more than 1 % below the optimum never get there; for them `ownRecoverySteps` measures the return to
 * their own post-shock level (mean eta of the last 100 steps).
 */
import { simulate } from '../engine.ts';
import { mean, round, servedRatio, stepsWithin, stepsWithinLevel } from '../metrics.ts';
import { STRATEGIES } from '../strategies.ts';
import { byName, linePoints, mdTable, newWorld, num, pct, progressFor, SERIES_COLUMNS, seriesRows } from './common.ts';
import type { Claim, ExperimentOutput, SimConfig } from './types.ts';

export const FAIL_FRACTION = 0.2;
export const RECOVERY_TOL = 0.01;
export const RECOVERY_WINDOW = 10;
/** The seeds' claim (001): "shock recovery within 50 steps". */
export const SEED_RECOVERY_STEPS = 50;

export function runE2(cfg: SimConfig): ExperimentOutput {
  const { rng, scenario } = newWorld(cfg);
  const steps = cfg.steps;
  const shockAt = Math.floor(steps / 2);
  const failed = rng.sample(scenario.n, Math.max(1, Math.round(FAIL_FRACTION * scenario.n)));
  // `failed` holds internal indices (any fixed subset is as good as another).
  const run = simulate(
    scenario,
    {
      steps,
      strategies: STRATEGIES,
      alpha: cfg.alpha,
      noise: cfg.noise,
      bufferMax: Infinity,
      beforeStep: (t, sim) => {
        if (t === shockAt) for (const i of failed) sim.scenario.capacity[i] = 0;
      },
      onProgress: progressFor(cfg, 'e2'),
    },
    rng,
  );
  const opt = byName(run, 'optimal');
  const tail = Math.max(shockAt, steps - 100);
  const strategies: Record<string, Record<string, number | null>> = {};
  for (const s of run.series) {
    const post = mean(s.eta, tail, steps);
    let minEta = Infinity;
    for (let t = shockAt; t < steps; t++) minEta = Math.min(minEta, s.eta[t]);
    strategies[s.name] = {
      recoverySteps: stepsWithin(s.eta, opt.eta, shockAt, RECOVERY_TOL, RECOVERY_WINDOW),
      ownRecoverySteps: stepsWithinLevel(s.eta, post, shockAt, RECOVERY_TOL, RECOVERY_WINDOW),
      preShockEfficiency: round(mean(s.eta, Math.max(0, shockAt - 100), shockAt)),
      postShockEfficiency: round(post),
      minEfficiencyAfterShock: round(minEta),
      postShockServedRatio: round(servedRatio(s.productive, run.feasible, tail, steps)),
      finalBacklog: round(s.backlog[steps - 1], 3),
    };
  }
  let lostCapacity = 0;
  for (const i of failed) lostCapacity += scenario.baseCapacity[i];
  let totalCapacity = 0;
  for (let i = 0; i < scenario.n; i++) totalCapacity += scenario.baseCapacity[i];

  const summary = {
    shockAt,
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
    `${failed.length} of ${scenario.n} sinks (${pct(lostCapacity / totalCapacity, 0)} of true capacity) fail at step ${shockAt}: capacity and signal drop to 0, their smoothed capacity decays at the EWMA's pace, their backlog (honestly reported) grows with every payment. Recovery = steps until eta stays within ${RECOVERY_TOL * 100} % of the optimum's for ${RECOVERY_WINDOW} steps; "own" = within ${RECOVERY_TOL * 100} % of the strategy's own post-shock level.`,
    '',
    mdTable(['strategy', 'recovery to optimum (steps)', 'recovery to own level (steps)', 'eta before', 'min eta after', 'eta after'], rows),
    '',
    `\`backpressure\` stops paying a failed sink as soon as its reported backlog exceeds the others' (one step), while \`proportional\` keeps paying it until its EWMA has decayed (0.7^t). ` +
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
