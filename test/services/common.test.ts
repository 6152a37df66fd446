// The service building blocks: config layering and per-field errors, the HTTP shell's limits and
// error replies, and the deployment JSON's round trip and validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, field, loadConfig, describeConfig } from '../../src/services/common/config.ts';
import { HttpError, startHttpService } from '../../src/services/common/http.ts';
import { createLogger } from '../../src/services/common/log.ts';
import { createRegistry, Counter } from '../../src/services/common/metrics.ts';
import { Backoff } from '../../src/services/common/backoff.ts';
import {
  DeploymentFileError, parseDeployment, readDeploymentFile, serializeDeployment, writeDeploymentFile, type DeploymentFile,
} from '../../src/chain/bpe/deploymentFile.ts';
import { DEFAULT_PARAMS } from '../../src/chain/bpe/deploy.ts';

const schema = {
  port: field('int', 'T_PORT', 'port', { default: 8000, min: 0, max: 65535 }),
  rpcUrl: field('url', 'T_RPC', 'rpc'),
  key: field('privateKey', 'T_KEY', 'key'),
  verbose: field('boolean', 'T_VERBOSE', 'verbose', { default: false }),
};

test('config: flags beat the environment, which beats the file, which beats defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpe-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ port: 1, rpcUrl: 'http://file:1', verbose: true }));
  assert.deepEqual(loadConfig(schema, { file, env: {} }), { port: 1, rpcUrl: 'http://file:1', key: undefined, verbose: true });
  assert.equal(loadConfig(schema, { file, env: { T_PORT: '2' } }).port, 2);
  assert.equal(loadConfig(schema, { file, env: { T_PORT: '2' }, overrides: { port: '3' } }).port, 3);
  assert.equal(loadConfig(schema, { env: {} }).port, 8000);
});

test('config: each bad field is named with its source; a key is never echoed', () => {
  assert.throws(() => loadConfig(schema, { env: { T_PORT: 'abc' } }), /config field "port" \(environment T_PORT\): must be a number, got "abc"/);
  assert.throws(() => loadConfig(schema, { env: { T_PORT: '70000' } }), /must be at most 65535/);
  assert.throws(() => loadConfig(schema, { env: {}, overrides: { rpcUrl: 'nope' } }), /"rpcUrl" \(command line\): must be a URL/);
  const secret = '0x1234secret';
  assert.throws(() => loadConfig(schema, { env: { T_KEY: secret } }), (err: Error) => err instanceof ConfigError && !err.message.includes(secret));
  const dir = mkdtempSync(join(tmpdir(), 'bpe-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ prot: 1 }));
  assert.throws(() => loadConfig(schema, { file, env: {} }), /"prot" .*unknown field/);
  writeFileSync(file, '{');
  assert.throws(() => loadConfig(schema, { file, env: {} }), /not valid JSON/);
  assert.match(describeConfig(schema), /port\s+T_PORT\s+port \(default 8000\)/);
});

test('http: routes, 404/405/413/415/400 with reasons, HttpError status, /health and /metrics', async () => {
  const metrics = createRegistry('test');
  const hits = new Counter({ name: 'test_hits_total', help: 'hits', registers: [metrics] });
  let healthy = true;
  const svc = await startHttpService({
    maxBodyBytes: 64,
    log: createLogger('test', 'silent'),
    metrics,
    health: () => ({ ok: healthy }),
    routes: [
      { method: 'POST', path: '/echo', handle: (body) => { hits.inc(); return { body, big: 2n ** 70n }; } },
      { method: 'POST', path: '/teapot', handle: () => { throw new HttpError(418, 'short and stout'); } },
    ],
  });
  try {
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(svc.url + path, { method: 'POST', headers: { 'content-type': type }, body });
    const ok = await post('/echo', '{"a":1}');
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { body: { a: 1 }, big: (2n ** 70n).toString() });
    assert.deepEqual([(await post('/nope', '{}')).status, (await fetch(svc.url + '/echo')).status], [404, 405]);
    const big = await post('/echo', JSON.stringify({ pad: 'x'.repeat(100) }));
    assert.equal(big.status, 413);
    assert.match(((await big.json()) as { error: string }).error, /exceeds the 64-byte limit/);
    assert.equal((await post('/echo', '{}', 'text/plain')).status, 415);
    const bad = await post('/echo', '{oops');
    assert.deepEqual([bad.status, await bad.json()], [400, { error: 'body is not valid JSON' }]);
    const teapot = await post('/teapot', '{}');
    assert.deepEqual([teapot.status, await teapot.json()], [418, { error: 'short and stout' }]);
    assert.equal((await fetch(svc.url + '/health')).status, 200);
    healthy = false;
    assert.equal((await fetch(svc.url + '/health')).status, 503);
    const text = await (await fetch(svc.url + '/metrics')).text();
    assert.match(text, /test_hits_total\{service="test"\} 1/);
  } finally {
    await svc.close();
  }
});

test('backoff grows, stays under its ceiling, and resets', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000 });
  const waits = Array.from({ length: 20 }, () => b.next());
  assert.ok(waits.every((w) => w >= 50 && w <= 1000));
  assert.equal(b.consecutiveFailures, 20);
  b.reset();
  assert.equal(b.consecutiveFailures, 0);
});

const A = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as const;
const sample: DeploymentFile = {
  version: 1,
  chainId: 31337,
  rpcUrl: 'http://127.0.0.1:8545',
  startBlock: 7n,
  superfluid: { host: A(1), gda: A(2), gdaV1Forwarder: A(3) },
  token: A(4),
  stakeToken: A(5),
  bpe: {
    stakeManager: A(10), capacityRegistry: A(11), backpressurePool: A(12), escrowBuffer: A(13),
    pipeline: A(14), pricingCurve: A(15), offchainAggregator: A(16), completionTracker: A(17),
    params: DEFAULT_PARAMS,
  },
  taskTypes: [{ id: `0x${'ab'.repeat(32)}`, name: 'summarize', pool: A(20) }],
};

test('deployment file: round trip keeps every wei and address; writes are whole files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpe-dep-'));
  const path = join(dir, 'nested', 'deployment.json');
  writeDeploymentFile(path, sample);
  assert.deepEqual(readDeploymentFile(path), sample);
  assert.match(serializeDeployment(sample), /"minSinkStake": "100000000000000000000"/);
});

test('deployment file: a bad or missing field is named', () => {
  const mutate = (f: (o: any) => void) => {
    const o = JSON.parse(serializeDeployment(sample));
    f(o);
    return JSON.stringify(o);
  };
  assert.throws(() => parseDeployment(mutate((o) => { o.bpe.escrowBuffer = '0x12'; })), /bpe\.escrowBuffer must be an address/);
  assert.throws(() => parseDeployment(mutate((o) => { delete o.bpe.params.epochSeconds; })), /bpe\.params\.epochSeconds must be a non-negative integer/);
  assert.throws(() => parseDeployment(mutate((o) => { o.version = 2; })), /version must be 1/);
  assert.throws(() => parseDeployment(mutate((o) => { o.taskTypes[0].id = '0x01'; })), /taskTypes\[0\]\.id/);
  assert.throws(() => readDeploymentFile('/nonexistent/deployment.json'), (e: Error) => e instanceof DeploymentFileError && /ENOENT/.test(e.message));
});
