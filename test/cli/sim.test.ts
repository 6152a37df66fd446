import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSimArgs, run } from '../../src/cli/commands/sim.ts';
import { CliError } from '../../src/cli/errors.ts';
import { DEFAULT_CONFIG } from '../../src/sim/experiments/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

function bpe(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'sim', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('npm warn')) };
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bpe-sim-test-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('bpe sim argument checks', () => {
  const bad: [string[], RegExp][] = [
    [[], /which experiment/],
    [['e6'], /unknown experiment "e6"/],
    [['e1', 'e2'], /one experiment at a time/],
    [['e1', '--seeds', '3'], /--seeds must be a range A\.\.B/],
    [['e1', '--seeds', '1..3'], /--seeds only goes with sweep/],
    [['e1', '--bogus', '3'], /unknown option "--bogus"/],
    [['e1', '--load', '0'], /--load must be at least 0.01 and at most 10, got 0/],
    [['e1', '--load', 'x'], /--load must be a decimal number, got "x"/],
    [['e1', '--load', '-1'], /--load must be a decimal number/],
    [['e1', '--noise', '1.5'], /--noise must be at least 0 and at most 1, got 1.5/],
    [['e1', '--alpha', '0'], /--alpha must be above 0 and at most 1, got 0/],
    [['e1', '--alpha', '1e-3'], /--alpha must be a decimal number/],
    [['e1', '--report-delay', '2.5'], /--report-delay must be a whole number/],
    [['e1', '--report-delay', '1001'], /--report-delay must be between 0 and 1000/],
    [['e1', '--liars', '0.95'], /--liars must be at least 0 and at most 0.9/],
    [['e1', '--buffer-max', '101'], /--buffer-max must be at least 0 and at most 100/],
    [['e1', '--cap', 'log'], /--cap must be one of sqrt, linear, got "log"/],
    [['e1', '--cap'], /--cap needs a value/],
    [['sweep'], /sweep needs one experiment/],
    [['sweep', 'e3', '--seeds', '1..2'], /cannot sweep "e3"/],
    [['sweep', 'e1'], /sweep needs --seeds A\.\.B/],
    [['sweep', 'e1', '--seeds', '5..2'], /A must not exceed B/],
    [['sweep', 'e1', '--seeds', '1..20000'], /at most 10000 seeds/],
    [['sweep', 'e1', '--seeds', '1..2', '--seed', '3'], /not --seed/],
    [['sweep', 'e1', '--seeds', '1..2', '--out', 'x'], /sweep writes no files/],
    [['e1', '-s'], /unknown option "-s"/],
    [['e1', '--seed'], /--seed needs a value/],
    [['e1', '--seed', '--json'], /--seed needs a value/],
    [['e1', '--seed', '-1'], /--seed must be a whole number/],
    [['e1', '--steps', '1e3'], /--steps must be a whole number/],
    [['e1', '--steps', '12.5'], /--steps must be a whole number/],
    [['e1', '--steps', '99'], /--steps must be between 100 and/],
    [['e1', '--sinks', '0'], /--sinks must be between 1 and/],
    [['e1', '--sinks', '99999999'], /--sinks must be between/],
    [['e1', '--types', '0'], /--types must be between/],
    [['e1', '--sinks', '3', '--types', '4'], /--types \(4\) cannot exceed --sinks \(3\)/],
    [['e1', '--seed', '1', '--seed', '2'], /--seed given twice/],
    [['e1', '--json=yes'], /--json takes no value/],
    [['e1', '--out', ''], /--out needs a directory/],
    [['e1', '--seed', '99999999999999999999'], /--seed must be between/],
  ];
  for (const [args, msg] of bad) {
    it(`rejects: ${args.join(' ') || '(nothing)'}`, () => {
      assert.throws(
        () => parseSimArgs(args),
        (e: unknown) => e instanceof CliError && msg.test(e.message) && !e.message.includes('\n'),
      );
    });
  }
  it('accepts the documented flags, in both --flag value and --flag=value forms', () => {
    const a = parseSimArgs(['all', '--seed=7', '--steps', '200', '--sinks', '60', '--sources', '12', '--types', '4', '--out', 'x', '--json']);
    assert.deepEqual(a.experiments, ['e1', 'e2', 'e3', 'e4', 'e5', 'e7', 'e8']);
    assert.equal(a.config.seed, 7);
    assert.equal(a.config.steps, 200);
    assert.equal(a.config.sinks, 60);
    assert.equal(a.config.sources, 12);
    assert.equal(a.config.types, 4);
    assert.equal(a.out, 'x');
    assert.equal(a.json, true);
    assert.deepEqual(parseSimArgs(['e5']).config, DEFAULT_CONFIG);
    assert.equal(DEFAULT_CONFIG.cap, 'linear');
  });
  it('accepts the model flags and the sweep form', () => {
    const a = parseSimArgs(['e1', '--load', '1.2', '--noise=0.1', '--alpha', '0.5', '--report-delay', '5', '--liars', '0.2', '--buffer-max', '0.5', '--cap', 'sqrt']);
    assert.deepEqual(
      [a.config.load, a.config.noise, a.config.alpha, a.config.reportDelay, a.config.liars, a.config.bufferMax, a.config.cap],
      [1.2, 0.1, 0.5, 5, 0.2, 0.5, 'sqrt'],
    );
    const s = parseSimArgs(['sweep', 'e2', '--seeds', '3..40', '--json']);
    assert.deepEqual(s.sweep, { experiment: 'e2', first: 3, last: 40 });
    assert.equal(s.json, true);
  });
  it('refuses an --out that is a file, before computing or writing anything', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(run(['e1', '--out', file]), (e: unknown) => e instanceof CliError && /not a directory/.test(e.message));
    assert.equal(readFileSync(file, 'utf8'), 'x');
  });
});

describe('bpe sim end to end', () => {
  it('bad input: one line on stderr, exit 2, nothing written', () => {
    const out = join(tmp, 'never');
    const r = bpe(['e1', '--steps', 'ten', '--out', out]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.length, 1);
    assert.match(r.stderr[0], /^bpe sim: --steps must be a whole number, got "ten"$/);
    assert.equal(existsSync(out), false);
  });
  it('--json prints the summary, byte-identical for the same seed', () => {
    const args = ['e1', '--json', '--seed', '4', '--steps', '150', '--sinks', '12', '--sources', '3'];
    const a = bpe(args);
    const b = bpe(args);
    assert.equal(a.code, 0, a.stderr.join('\n'));
    assert.equal(a.stdout, b.stdout);
    const s = JSON.parse(a.stdout);
    assert.equal(s.params.seed, 4);
    const bp = s.experiments.e1.strategies.backpressure;
    for (const k of ['efficiency', 'servedRatio', 'maxBufferLevel', 'convergenceSteps']) assert.ok(k in bp, k);
    assert.notEqual(bpe(['e1', '--json', '--seed', '5', '--steps', '150', '--sinks', '12', '--sources', '3']).stdout, a.stdout);
  });
  it('--out writes CSV, summary, SVG plots and report.md, identical across runs', () => {
    const args = ['all', '--steps', '100', '--sinks', '12', '--sources', '4', '--types', '2'];
    const d1 = join(tmp, 'out1');
    const d2 = join(tmp, 'out2');
    const r1 = bpe([...args, '--out', d1]);
    assert.equal(r1.code, 0, r1.stderr.join('\n'));
    assert.equal(r1.stderr.length, 0, 'no progress output when stderr is not a terminal');
    assert.equal(bpe([...args, '--out', d2]).code, 0);
    const files = readdirSync(d1).sort();
    for (const id of ['e1', 'e2', 'e3', 'e4', 'e5', 'e7', 'e8']) assert.ok(files.includes(`${id}.csv`), id);
    assert.ok(files.includes('summary.json') && files.includes('report.md'));
    const svgs = files.filter((f) => f.endsWith('.svg'));
    assert.ok(svgs.length >= 6);
    const report = readFileSync(join(d1, 'report.md'), 'utf8');
    for (const f of svgs) assert.ok(report.includes(`](${f})`), f);
    assert.match(readFileSync(join(d1, 'e1.csv'), 'utf8').split('\n')[0], /^step,strategy,eta,/);
    for (const f of files) assert.ok(readFileSync(join(d1, f), 'utf8') === readFileSync(join(d2, f), 'utf8'), `${f} differs between runs`);
  });
  it('sweep --json prints the documented shape on stdout only, byte-identical across runs', () => {
    const args = ['sweep', 'e2', '--seeds', '1..2', '--steps', '120', '--json'];
    const a = bpe(args);
    assert.equal(a.code, 0, a.stderr.join('\n'));
    assert.equal(a.stderr.length, 0, 'no progress output when stderr is not a terminal');
    assert.equal(bpe(args).stdout, a.stdout);
    const r = JSON.parse(a.stdout);
    assert.deepEqual(Object.keys(r), ['experiment', 'seeds', 'params', 'infeasible', 'infeasibleSeeds', 'strategies']);
    assert.deepEqual(r.seeds, [1, 2]);
    assert.deepEqual(Object.keys(r.strategies.backpressure.recoverySteps), ['max', 'failures']);
  });
});
