// Fuzzing the oracle's HTTP intake (fast-check) against a real anvil: arbitrary JSON bodies and
// valid attestations with one field mutated never produce a 5xx or stop the server, and every row
// that ever reaches the DB passes an independent check (viem's EIP-712 recovery against the
// aggregator's own domain, a registered sink, values in range, unique nonces).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { compactSignatureToSignature, recoverTypedDataAddress, serializeSignature, type Address, type Hex } from 'viem';
import { createLogger } from '../../src/services/common/log.ts';
import { startOracle, toAttestationJson, type RunningOracle } from '../../src/services/oracle/index.ts';
import { oracleConfig, post, startOracleWorld, type OracleWorld } from './oracleFixture.ts';

const silent = createLogger('oracle-test', process.env.BPE_TEST_LOG ?? 'silent');

const types = {
  CapacityAttestation: [
    { name: 'taskTypeId', type: 'bytes32' }, { name: 'sink', type: 'address' }, { name: 'capacity', type: 'uint64' },
    { name: 'backlog', type: 'uint64' }, { name: 'nonce', type: 'uint32' }, { name: 'timestamp', type: 'uint64' },
  ],
} as const;

describe('CapacityOracle intake under fuzzing', () => {
  let world: OracleWorld;
  let oracle: RunningOracle;
  let nonce = 0;

  before(async () => {
    world = await startOracleWorld({ sinks: 2, label: 'fuzz' });
    oracle = await startOracle(oracleConfig(world, { maxItemsPerRequest: 16, maxBodyBytes: 16_384 }), { relay: false, log: silent });
  });
  after(async () => {
    await oracle?.stop();
    await world?.stop();
    if (world) rmSync(world.dir, { recursive: true, force: true });
  });

  const alive = async () => {
    const res = await fetch(`${oracle.url}/health`);
    assert.equal(res.status, 200);
  };

  it('arbitrary JSON bodies: never a 5xx, the server keeps answering', async () => {
    const itemLike = fc.record(
      {
        taskTypeId: fc.oneof(fc.constant(world.taskTypeId), fc.string(), fc.integer()),
        sink: fc.oneof(fc.constant(world.sinks[0].address), fc.string(), fc.constant(null)),
        capacity: fc.oneof(fc.bigInt({ min: -5n, max: 1n << 70n }).map(String), fc.integer(), fc.string()),
        backlog: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 70n }).map(String), fc.double()),
        nonce: fc.oneof(fc.integer({ min: -2, max: 2 ** 33 }), fc.string(), fc.double()),
        timestamp: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 65n }).map(String), fc.constant('1e9')),
        r: fc.oneof(fc.constant(`0x${'1'.repeat(64)}`), fc.string()),
        vs: fc.oneof(fc.constant(`0x${'2'.repeat(64)}`), fc.string()),
      },
      { requiredKeys: [] },
    );
    const bodies = fc.oneof(
      fc.json().map((text) => ({ raw: text })),
      fc.jsonValue().map((v) => ({ raw: JSON.stringify({ attestations: v }) })),
      fc.array(itemLike, { maxLength: 20 }).map((items) => ({ raw: JSON.stringify({ attestations: items }) })),
      fc.string().map((raw) => ({ raw })),
    );
    const before = Object.values(oracle.store.counts()).reduce((a, b) => a + b, 0);
    await fc.assert(
      fc.asyncProperty(bodies, async ({ raw }) => {
        const res = await post(oracle.url, null, { raw });
        assert.ok([200, 400, 413].includes(res.status), `status ${res.status}: ${JSON.stringify(res.json)}`);
        if (res.status === 200) for (const r of res.json.results) assert.equal(r.status, 'rejected');
        else assert.equal(typeof res.json.error, 'string');
      }),
      { numRuns: 400 },
    );
    await alive();
    assert.equal(Object.values(oracle.store.counts()).reduce((a, b) => a + b, 0), before, 'no unsigned junk stored');
  });

  it('valid attestations with one field mutated: never a 5xx; whatever is stored checks out independently', async () => {
    const fields = ['taskTypeId', 'sink', 'capacity', 'backlog', 'nonce', 'timestamp', 'r', 'vs'] as const;
    const mutation = fc.record({
      field: fc.constantFrom(...fields),
      kind: fc.constantFrom('flipHexDigit', 'upperCase', 'increment', 'replaceString', 'replaceNumber', 'drop', 'none'),
      at: fc.nat(63),
      value: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.bigInt({ min: 0n, max: 1n << 64n }).map(String)),
      sink: fc.nat(1),
      capacity: fc.bigInt({ min: 0n, max: 1n << 41n }),
      stale: fc.integer({ min: -700, max: 60 }),
    });
    // Ten unmutated items first, so the final check always has rows to check.
    const start = await world.chainTime();
    const valid = Array.from({ length: 10 }, (_, i) => toAttestationJson(world.sign(world.sinks[i % 2], { capacity: 4n, backlog: 0n, nonce: ++nonce, timestamp: start })));
    assert.deepEqual((await post(oracle.url, { attestations: valid })).json.results, Array(10).fill({ status: 'accepted' }));
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const now = await world.chainTime();
        const items = mutations.map((m) => {
          const a = toAttestationJson(
            world.sign(world.sinks[m.sink], { capacity: m.capacity, backlog: 1n, nonce: ++nonce, timestamp: now + BigInt(m.stale) }),
          ) as unknown as Record<string, unknown>;
          const v = a[m.field];
          switch (m.kind) {
            case 'flipHexDigit':
              if (typeof v === 'string' && v.startsWith('0x')) {
                const i = 2 + (m.at % (v.length - 2));
                a[m.field] = v.slice(0, i) + (v[i] === '0' ? '1' : '0') + v.slice(i + 1);
              }
              break;
            case 'upperCase':
              if (typeof v === 'string') a[m.field] = `0x${v.slice(2).toUpperCase()}`;
              break;
            case 'increment':
              a[m.field] = typeof v === 'number' ? v + 1 : typeof v === 'string' && /^\d+$/.test(v) ? (BigInt(v) + 1n).toString() : v;
              break;
            case 'replaceString':
            case 'replaceNumber':
              a[m.field] = m.value;
              break;
            case 'drop':
              delete a[m.field];
              break;
          }
          return a;
        });
        const res = await post(oracle.url, { attestations: items });
        assert.ok(res.status < 500, `status ${res.status}: ${JSON.stringify(res.json)}`);
        if (res.status === 200) assert.equal(res.json.results.length, items.length);
      }),
      { numRuns: 150 },
    );
    await alive();

    // Every stored row, checked by viem (an independent EIP-712 implementation).
    const rows = oracle.store.db.prepare('SELECT * FROM attestations').all() as Record<string, any>[];
    assert.ok(rows.length >= 10, `${rows.length} rows`);
    const registered = new Set(world.sinks.map((s) => s.address.toLowerCase()));
    const seen = new Set<string>();
    for (const row of rows) {
      const signature = serializeSignature(compactSignatureToSignature({ r: row.r as Hex, yParityAndS: row.vs as Hex }));
      const signer = await recoverTypedDataAddress({
        domain: { name: 'BPE OffchainAggregator', version: '1', chainId: 31337, verifyingContract: world.stack.bpe.offchainAggregator },
        types, primaryType: 'CapacityAttestation', signature,
        message: { taskTypeId: row.task_type_id, sink: row.sink as Address, capacity: BigInt(row.capacity), backlog: BigInt(row.backlog), nonce: row.nonce, timestamp: BigInt(row.timestamp) },
      });
      assert.equal(signer.toLowerCase(), row.sink);
      assert.ok(registered.has(row.sink));
      assert.equal(row.task_type_id, world.taskTypeId);
      assert.ok(BigInt(row.capacity) < 1n << 40n);
      const key = `${row.sink}:${row.nonce}`;
      assert.ok(!seen.has(key));
      seen.add(key);
    }
  });
});
