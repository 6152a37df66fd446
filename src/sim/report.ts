/**
 * Output files of `bpe sim --out DIR`: one CSV per experiment, summary.json, SVG plots and report.md
 * (plots embedded, results tables, where the seeds' claims hold). Everything is rendered in memory
 * first (except the CSVs, which stream), so a rendering error writes nothing.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { csvChunks } from './csv.ts';
import { renderSvg } from './plot.ts';
import { num, pct, mdTable } from './experiments/common.ts';
import { buildSummary, type ExperimentOutput, type SimConfig, type Summary } from './experiments/index.ts';

export function commandLine(cfg: SimConfig, which: string): string {
  return `bpe sim ${which} --seed ${cfg.seed} --steps ${cfg.steps} --sinks ${cfg.sinks} --sources ${cfg.sources} --types ${cfg.types}`;
}

type Get = (path: string[]) => unknown;

function getter(summary: Summary): Get {
  return (path) => {
    let v: unknown = summary.experiments;
    for (const p of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[p];
    }
    return v;
  };
}

/** The targets, measured (only those whose experiment ran). */
export function targets(summary: Summary): { target: string; measured: string; met: boolean }[] {
  const get = getter(summary);
  const out: { target: string; measured: string; met: boolean }[] = [];
  const eta = get(['e1', 'strategies', 'backpressure', 'efficiency']) as number | undefined;
  const sigma = get(['e1', 'strategies', 'backpressure', 'servedRatio']) as number | undefined;
  const maxBuf = get(['e1', 'strategies', 'backpressure', 'maxBufferLevel']) as number | undefined;
  if (eta !== undefined && sigma !== undefined) {
    out.push({
      target: 'E1: backpressure eta >= 0.998 and sigma >= 0.998 with a bounded buffer',
      measured: `eta ${pct(eta, 2)}, sigma ${pct(sigma, 2)}, max buffer ${num(maxBuf ?? 0, 1)}`,
      met: eta >= 0.998 && sigma >= 0.998,
    });
  }
  const prop = get(['e1', 'strategies', 'proportional', 'efficiency']) as number | undefined;
  if (prop !== undefined) {
    out.push({ target: 'E1: proportional reproduces ~0.957', measured: `eta ${pct(prop, 2)}`, met: Math.abs(prop - 0.957) <= 0.005 });
  }
  const rec = get(['e2', 'strategies', 'backpressure', 'recoverySteps']) as number | null | undefined;
  if (rec !== undefined) {
    out.push({ target: 'E2: backpressure within 1 % of the post-shock optimum in <= 5 steps', measured: `${num(rec)} steps`, met: rec !== null && rec <= 5 });
  }
  const stall = get(['e5', 'stallRate']) as Record<string, number> | undefined;
  if (stall) {
    const big = Object.entries(stall).filter(([f]) => Number(f) >= 0.5);
    out.push({
      target: 'E5: backpressure stall rate 0 at B_max >= 0.5 Lambda',
      measured: big.map(([f, r]) => `${pct(r, 1)} at ${Number(f)} Lambda`).join(', '),
      met: big.every(([, r]) => r === 0),
    });
  }
  return out;
}

export function reportMarkdown(cfg: SimConfig, which: string, outputs: readonly ExperimentOutput[], summary: Summary): string {
  const lines: string[] = [];
  lines.push('# BPE simulator report', '');
  lines.push(`Command: \`${commandLine(cfg, which)}\` (EWMA alpha ${cfg.alpha}, signal noise ${cfg.noise * 100} % of capacity). The same command gives the same files byte for byte.`, '');
  lines.push(
    `Scenario: ${cfg.sinks} sinks, ${cfg.sources} sources, ${cfg.types} task types (sink i and source j serve type i mod ${cfg.types} and j mod ${cfg.types}); true capacity ~U(10, 100) per step; stake ~U(100, 1000), S_min = 100, cap = sqrt(stake); source rate ~U(50, 200); signal = capacity + N(0, (${cfg.noise} x capacity)^2), capped, EWMA-smoothed. Capacity is counted in money per step (price 1). eta(t) = sum_k min(F_k, C_k) / sum_k F_k (the paper's allocation efficiency); sigma = productive payment / the most that was feasible, sum_t sum_k min(F_k, C_k) / sum_t sum_types min(D, sum_k C_k).`,
    '',
  );
  const tg = targets(summary);
  if (tg.length > 0) {
    lines.push('## Targets', '');
    lines.push(mdTable(['target', 'measured', 'met'], tg.map((t) => [t.target, t.measured, t.met ? 'yes' : '**no**'])), '');
  }
  if (summary.claims.length > 0) {
    lines.push("## Where the seeds' claims hold", '');
    lines.push(
      mdTable(
        ['claim', 'source', 'simulated', 'verdict'],
        summary.claims.map((c) => [c.claim, c.source, c.simulated, c.verdict === 'holds' ? 'holds' : `**${c.verdict}**`]),
      ),
      '',
    );
  }
  for (const o of outputs) {
    lines.push(`## ${o.title}`, '');
    for (const p of o.plots) lines.push(`![${p.title}](${p.file})`, '');
    lines.push(o.markdown, '');
    lines.push(`Data: \`${o.id}.csv\`; numbers: \`summary.json\` → \`experiments.${o.id}\`.`, '');
  }
  return lines.join('\n');
}

export interface WrittenFiles {
  dir: string;
  files: string[];
}

export async function writeOutputs(dir: string, cfg: SimConfig, which: string, outputs: readonly ExperimentOutput[]): Promise<WrittenFiles> {
  const summary = buildSummary(cfg, outputs);
  const svgs: { file: string; svg: string }[] = [];
  for (const o of outputs) for (const p of o.plots) svgs.push({ file: p.file, svg: await renderSvg(p.spec) });
  const report = reportMarkdown(cfg, which, outputs, summary);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const o of outputs) {
    const file = `${o.id}.csv`;
    const stream = createWriteStream(join(dir, file));
    for (const chunk of csvChunks(o.csv)) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
    await once(stream, 'finish');
    files.push(file);
  }
  for (const s of svgs) {
    await writeFile(join(dir, s.file), s.svg);
    files.push(s.file);
  }
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  files.push('summary.json');
  await writeFile(join(dir, 'report.md'), report);
  files.push('report.md');
  return { dir, files };
}
