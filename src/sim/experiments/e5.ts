/**
 * E5 buffer (SPEC section 4): demand x3 for 10 of every 50 steps (steps 40..49 of each cycle);
 * bufferMax in {0, 0.1, 0.5, 1.0} x Lambda with Lambda = 2 x (mean demand per type) x 10. A source
 * pauses (stall) when its type's buffer is full and the rule wants to hold more; stall rate = share of
 * (type, step) pairs with a pause. Money conservation is asserted every step and checked over the run.
 */
import { simulate, type RunResult } from '../engine.ts';
import type { TopLevelSpec } from '../plot.ts';
import { efficiency, round, servedRatio, sum } from '../metrics.ts';
import { STRATEGIES } from '../strategies.ts';
import { engineBase, lambdaOf, ledgerError, mdTable, newWorld, num, pct, SERIES_COLUMNS, seriesRows } from './common.ts';
import type { Claim, ExperimentOutput, SimConfig } from './types.ts';

export const BUFFER_FRACTIONS = [0, 0.1, 0.5, 1.0] as const;
export const SPIKE_FACTOR = 3;
export const SPIKE_PERIOD = 50;
export const SPIKE_LENGTH = 10;
/** The seeds' claim (001): "buffer stall rates under 9 %". */
export const SEED_STALL_RATE = 0.09;

/** Summary key of a buffer size: "0.5", "1.0", "0.25". */
export function bufferKey(fraction: number): string {
  return Number.isInteger(fraction * 10) ? fraction.toFixed(1) : String(fraction);
}

export function isSpike(t: number): boolean {
  return t % SPIKE_PERIOD >= SPIKE_PERIOD - SPIKE_LENGTH;
}

/** The spike run of one seed and buffer size (every strategy), with each strategy's largest type buffer. */
export function spikeRun(
  cfg: SimConfig,
  fraction: number,
  onProgress?: (done: number, total: number) => void,
): { run: RunResult; maxTypeBuffer: Float64Array } {
  const { rng, scenario } = newWorld(cfg);
  const T = scenario.types;
  const maxTypeBuffer = new Float64Array(STRATEGIES.length);
  const run = simulate(
    scenario,
    {
      steps: cfg.steps,
      strategies: STRATEGIES,
      ...engineBase(cfg, scenario),
      bufferMax: fraction * lambdaOf(scenario),
      beforeStep: (t, sim) => {
        if (isSpike(t)) for (let ty = 0; ty < T; ty++) sim.demand[ty] *= SPIKE_FACTOR;
      },
      afterStep: (_t, sim) => {
        for (let s = 0; s < STRATEGIES.length; s++) {
          for (let ty = 0; ty < T; ty++) {
            const b = sim.buffer[s * T + ty];
            if (b > maxTypeBuffer[s]) maxTypeBuffer[s] = b;
          }
        }
      },
      onProgress,
    },
    rng,
  );
  return { run, maxTypeBuffer };
}

export function runE5(cfg: SimConfig): ExperimentOutput {
  const steps = cfg.steps;
  const runs: { fraction: number; run: RunResult }[] = [];
  const buffers: Record<string, unknown>[] = [];
  const stallRate: Record<string, number> = {};
  const etaByBuffer: Record<string, number> = {};
  let lambda = 0;
  let spikeOverflow: { type: number; perSpike: number; overLambda: number }[] = [];
  let done = 0;
  const fractions = cfg.bufferMax === null ? BUFFER_FRACTIONS : [cfg.bufferMax];
  for (const fraction of fractions) {
    const { scenario } = newWorld(cfg);
    const T = scenario.types;
    lambda = lambdaOf(scenario);
    // What a spike cannot place even with perfect knowledge: sum over its steps of max(0, 3D - C).
    spikeOverflow = Array.from({ length: T }, (_, t) => {
      let c = 0;
      for (let i = scenario.typeStart[t]; i < scenario.typeStart[t + 1]; i++) c += scenario.capacity[i];
      const per = SPIKE_LENGTH * Math.max(0, SPIKE_FACTOR * scenario.baseDemand[t] - c);
      return { type: t, perSpike: round(per, 3), overLambda: round(per / lambda, 4) };
    });
    const { run, maxTypeBuffer } = spikeRun(
      cfg,
      fraction,
      cfg.progress ? (k, n) => cfg.progress!('e5', done * steps + k, fractions.length * n) : undefined,
    );
    done++;
    const perStrategy: Record<string, Record<string, number>> = {};
    run.series.forEach((s, si) => {
      perStrategy[s.name] = {
        stallRate: round(sum(s.stalls) / (T * steps)),
        efficiency: round(efficiency(s)),
        servedRatio: round(servedRatio(s)),
        maxTypeBufferLevel: round(maxTypeBuffer[si], 3),
        maxBufferOverLambda: round(lambda > 0 ? maxTypeBuffer[si] / lambda : 0, 4),
        refusedShare: round(sum(s.refused) / sum(run.demand)),
        wastedShare: round(sum(s.wasted) / Math.max(1e-300, sum(s.paid))),
        finalBacklog: round(s.backlog[steps - 1], 3),
        maxConservationError: s.maxConservationError,
        ledgerError: ledgerError(s),
      };
    });
    stallRate[bufferKey(fraction)] = perStrategy.backpressure.stallRate;
    etaByBuffer[bufferKey(fraction)] = perStrategy.backpressure.efficiency;
    buffers.push({ bufferMaxFraction: fraction, bufferMax: round(fraction * lambda, 3), strategies: perStrategy });
    runs.push({ fraction, run });
  }
  const get = (f: number, name: string) =>
    (buffers.find((b) => b.bufferMaxFraction === f)!.strategies as Record<string, Record<string, number>>)[name];
  const shown = ['backpressure', 'onchain', 'optimal', 'proportional'] as const;
  const table = mdTable(
    ['B_max', ...shown.map((s) => `\`${s}\` stall / eta / sigma`)],
    fractions.map((f) => [
      `${f} Lambda`,
      ...shown.map((s) => {
        const r = get(f, s);
        return `${pct(r.stallRate, 1)} / ${pct(r.efficiency, 1)} / ${pct(r.servedRatio, 1)}`;
      }),
    ]),
  );
  const rates = fractions.map((f) => get(f, 'backpressure').stallRate);
  const ocRates = fractions.map((f) => get(f, 'onchain').stallRate);
  const overflowNote = spikeOverflow.map((o) => `type ${o.type}: ${num(o.overLambda, 2)} Lambda`).join(', ');
  const bpHalf = fractions.includes(0.5) ? get(0.5, 'backpressure') : get(fractions[0], 'backpressure');
  const markdown = [
    `Demand x${SPIKE_FACTOR} for ${SPIKE_LENGTH} of every ${SPIKE_PERIOD} steps; Lambda = ${num(lambda, 1)}. Stall rate = share of (type, step) where a source had to pause because its buffer was full; eta and sigma over the whole run. sigma can exceed 100 % with a buffer: money held during a spike is served in later steps whose own demand is below capacity, which the per-step denominator min(demand, capacity) does not count. Every strategy conserves money (largest relative ledger error ${Math.max(...buffers.flatMap((b) => Object.values(b.strategies as Record<string, Record<string, number>>).map((r) => r.ledgerError))).toExponential(1)}).`,
    '',
    table,
    '',
    `Overflow a spike leaves even with perfect knowledge (sum of max(0, 3 x demand - true capacity) over the spike): ${overflowNote}. ` +
      `Backpressure pays each sink what it can serve and buffers the rest of a spike, like the oracle, so its largest buffer is ${num(bpHalf.maxBufferOverLambda, 2)} Lambda and it stalls where the spike's overflow exceeds the buffer (at ${fractions.map((f) => `${f} Lambda: ${pct(get(f, 'backpressure').stallRate, 1)}, optimal ${pct(get(f, 'optimal').stallRate, 1)}`).join('; ')}). ` +
      `\`proportional\` never uses the buffer: it pushes spikes into sink backlogs, which costs eta (${pct(get(fractions[0], 'proportional').efficiency, 1)}). \`onchain\` (the contracts' rule) stalls ${pct(Math.min(...ocRates), 1)}–${pct(Math.max(...ocRates), 1)} of (type, step) pairs.`,
  ].join('\n');

  const claims: Claim[] = [
    {
      claim: 'buffer stall rates under 9 %',
      source: 'seed 001 (Evaluation)',
      simulated: `backpressure ${rates.map((r) => pct(r, 1)).join(' / ')}, onchain (contract rule) ${ocRates.map((r) => pct(r, 1)).join(' / ')} at B_max = ${fractions.join(' / ')} Lambda`,
      verdict: rates.every((r) => r < SEED_STALL_RATE) && ocRates.every((r) => r < SEED_STALL_RATE)
        ? 'holds'
        : rates.every((r) => r < SEED_STALL_RATE) || ocRates.every((r) => r < SEED_STALL_RATE)
          ? 'partly'
          : 'does not hold',
    },
  ];

  const barPoints: { bufferMax: string; strategy: string; stallRate: number; efficiency: number }[] = [];
  for (const f of fractions) {
    for (const s of STRATEGIES) {
      const r = get(f, s);
      barPoints.push({ bufferMax: `${f} Λ`, strategy: s, stallRate: r.stallRate, efficiency: r.efficiency });
    }
  }
  // The eta axis starts just below the lowest bar: all values sit near 1, a zero-based axis hides them.
  const etaMin = Math.min(...barPoints.map((p) => p.efficiency).filter(Number.isFinite));
  const etaFloor = Math.max(0, Math.floor((etaMin - 0.05) * 100) / 100);
  const bars = (field: 'stallRate' | 'efficiency', title: string, scale: Record<string, unknown>) => ({
    width: 560,
    height: 160,
    title,
    mark: { type: 'bar', clip: true },
    encoding: {
      x: { field: 'bufferMax', type: 'nominal', title: 'B_max', sort: fractions.map((f) => `${f} Λ`), axis: { labelAngle: 0 } },
      xOffset: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES] },
      y: { field, type: 'quantitative', title, scale },
      color: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES] },
    },
  });
  return {
    id: 'e5',
    title: 'E5 buffer',
    summary: {
      lambda: round(lambda, 3),
      spikeFactor: SPIKE_FACTOR,
      spikeLength: SPIKE_LENGTH,
      spikePeriod: SPIKE_PERIOD,
      spikeOverflow,
      stallRate,
      efficiency: etaByBuffer,
      buffers,
    },
    csv: {
      columns: ['bufferMaxFraction', ...SERIES_COLUMNS],
      rows: function* () {
        for (const r of runs) yield* seriesRows(r.run, [r.fraction]);
      },
    },
    plots: [
      {
        file: 'e5_buffer.svg',
        title: 'E5: stall rate and efficiency per buffer size',
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          title: 'E5: stall rate and eta per buffer size (demand x3 spikes)',
          data: { values: barPoints },
          vconcat: [bars('stallRate', 'stall rate', {}), bars('efficiency', 'eta (whole run)', { domain: [etaFloor, 1], nice: false })],
        } as TopLevelSpec,
      },
    ],
    markdown,
    claims,
  };
}
