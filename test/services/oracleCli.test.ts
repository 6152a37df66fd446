// `bpe oracle` on the command line (no chain): --help lists every config field with its
// environment variable and default; a key as a flag and an unreadable deployment are refused in
// one line with exit code 2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { oracleSchema } from '../../src/services/oracle/config.ts';

const BIN = new URL('../../bin/bpe.js', import.meta.url).pathname;
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, 'oracle', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

describe('bpe oracle command', () => {
  it('--help lists every field with its environment variable and default', () => {
    const res = run(['--help']);
    assert.equal(res.status, 0);
    for (const [name, spec] of Object.entries(oracleSchema)) {
      const line = res.stdout.split('\n').find((l) => l.trimStart().startsWith(`${name} `));
      assert.ok(line, `no line for ${name}`);
      assert.ok(line.includes(spec.env), `${name}: ${spec.env}`);
      if (spec.default !== undefined) assert.ok(line.endsWith(`(default ${String(spec.default)})`), `${name}: ${line}`);
    }
    assert.match(res.stdout, /port\s+BPE_ORACLE_PORT\s+.*\(default 8645\)/);
    assert.match(res.stdout, /dbPath\s+BPE_ORACLE_DB_PATH\s+.*\(default bpe-oracle\.sqlite\)/);
    assert.match(res.stdout, /maxItemsPerRequest\s+BPE_ORACLE_MAX_ITEMS\s+.*\(default 256\)/);
  });

  it('refuses a private key on the command line and an unreadable deployment, in one line', () => {
    const flag = run(['--privateKey', `0x${'11'.repeat(32)}`]);
    assert.equal(flag.status, 2);
    assert.equal(flag.stderr, 'bpe oracle: privateKey is read from the environment only: set BPE_ORACLE_PRIVATE_KEY\n');
    const missing = run([], { BPE_ORACLE_DEPLOYMENT: '/nonexistent/deployment.json', BPE_ORACLE_PRIVATE_KEY: `0x${'11'.repeat(32)}` });
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr, 'bpe oracle: cannot start: deployment file /nonexistent/deployment.json: cannot read it (ENOENT)\n');
    const badBatch = run(['--batchSize', '0']);
    assert.equal(badBatch.status, 2);
    assert.match(badBatch.stderr, /^bpe oracle: config field "batchSize" \(command line\): must be at least 1, got "0"\n$/);
  });
});
