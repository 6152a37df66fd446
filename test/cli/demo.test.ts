// `bpe demo` as a user runs it: a child process that starts its own anvil, deploys Superfluid and
// BPE, and tells the scripted story. Needs the generated artifacts (npm test builds them first).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `node --import tsx src/cli/main.ts demo ...args` (asynchronously: the test runner stays responsive). */
function bpeDemo(args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'demo', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The lines of the numbered step `n` (from "n. " up to the next step). */
function step(stdout: string, n: number): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${n}. `));
  assert.ok(start >= 0, `no step ${n} in:\n${stdout}`);
  const end = lines.findIndex((l, i) => i > start && /^\d+\. /.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** The share (percent, as printed) of party `name` in a step's report. */
function share(lines: string[], name: string): string {
  const line = lines.find((l) => l.trimStart().startsWith(`${name} `));
  assert.ok(line, `no line for ${name} in:\n${lines.join('\n')}`);
  const match = /(\d+\.\d\d) %$/.exec(line);
  assert.ok(match, `no share in "${line}"`);
  return match[1]!;
}

describe('bpe demo', () => {
  let run: Run;
  before(async () => {
    run = await bpeDemo([]);
  });

  it('exits 0 with nothing on stderr but warnings', () => {
    assert.equal(run.code, 0, `exit ${run.code}; stderr:\n${run.stderr}`);
    const errors = run.stderr.split('\n').filter((l) => l.trim() && !/warn/i.test(l));
    assert.deepEqual(errors, []);
  });

  it('step 3: sinks of capacity 10:20:30 receive 16.66 / 33.33 / 50.00 % and the buffer nothing', () => {
    const lines = step(run.stdout, 3);
    assert.equal(share(lines, 'sink A'), '16.66');
    assert.equal(share(lines, 'sink B'), '33.33');
    assert.equal(share(lines, 'sink C'), '50.00');
    assert.equal(share(lines, 'buffer'), '0.00');
  });

  it('step 5: demand past capacity fills the buffer (a non-zero level)', () => {
    const lines = step(run.stdout, 5);
    const levelLine = lines.find((l) => l.includes('buffer level'));
    assert.ok(levelLine, `no buffer level in:\n${lines.join('\n')}`);
    const match = /buffer level (\d+\.\d+) TUSD/.exec(levelLine);
    assert.ok(match, `unparseable: "${levelLine}"`);
    assert.ok(Number(match[1]) > 0, `buffer level ${match[1]}`);
    assert.ok(Number(share(lines, 'buffer')) > 0, 'the buffer took a share of the stream');
  });

  it('step 7: source paid == sinks + buffer + remainder, and says so', () => {
    const lines = step(run.stdout, 7).filter((l) => l.trim());
    const paidLine = lines.find((l) => l.includes('source paid'));
    const match = paidLine && /source paid (\d+) wei; sinks \+ buffer \+ remainder = (\d+) wei/.exec(paidLine);
    assert.ok(match, `no accounting line in:\n${lines.join('\n')}`);
    assert.ok(BigInt(match[1]!) > 0n);
    assert.equal(match[2], match[1]);
    assert.equal(lines.at(-1)!.trim(), 'every wei the source paid is accounted for.');
  });

  it('step 8: the relayed attestation is applied, the forged one beside it skipped as a bad signature', () => {
    const lines = step(run.stdout, 8).join('\n');
    assert.match(lines, /1 accepted, 1 skipped \(reason 3: bad signature\)/);
    assert.match(lines, /capacities now sink A 11, sink B 20, sink C 7/);
  });

  it('step 9: a backlog of 20 on capacity 20 doubles B\'s price and halves its weight (11:10:7)', () => {
    const lines = step(run.stdout, 9);
    assert.match(lines.join('\n'), /its price goes 0\.0010 TUSD -> 0\.0020 TUSD per task/);
    assert.equal(share(lines, 'sink A'), '39.28');
    assert.equal(share(lines, 'sink B'), '35.71');
    assert.equal(share(lines, 'sink C'), '25.00');
  });

  it('step 10: the sink without receipts is charged its shortfall (8 tasks x 20 STK over 3 epochs), the others nothing', () => {
    const lines = step(run.stdout, 10).join('\n');
    assert.match(lines, /stake 1600\.0000 STK -> 1440\.0000 STK, pool units 7000 -> 4000/);
    assert.match(lines, /A and B keep all of theirs \(400\.0000 STK, 900\.0000 STK\)/);
  });

  it('refuses an extra argument: non-zero exit, one line on stderr naming it, no chain started', async () => {
    const bad = await bpeDemo(['extra-arg'], 30_000);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.code, 2);
    const lines = bad.stderr.split('\n').filter((l) => l.trim() && !/^npm warn/i.test(l));
    assert.equal(lines.length, 1, `stderr:\n${bad.stderr}`);
    assert.match(lines[0]!, /^bpe demo: unexpected argument "extra-arg"/);
    assert.equal(bad.stdout, '', 'nothing started');
  });
});
