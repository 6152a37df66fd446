// CommitmentStore: the file store's atomic replace, its refusal of a corrupt file, and the
// in-memory store's matching behaviour. No chain.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getAddress, type Address, type Hex } from 'viem';
import {
  CommitmentStoreCorruptError,
  FileCommitmentStore,
  InMemoryCommitmentStore,
  type CommitmentKey,
  type CommitmentStore,
} from '../../src/index.ts';

const key: CommitmentKey = {
  chainId: 31337,
  registry: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
  taskTypeId: `0x${'ab'.repeat(32)}`,
  sink: '0x70997970c51812dc3a048dbc3add88e4b0aa2e0a',
};
const other: CommitmentKey = { ...key, chainId: 1 };
const entry = { capacity: 42n, nonce: `0x${'11'.repeat(32)}` as Hex, hash: `0x${'22'.repeat(32)}` as Hex };

describe('CommitmentStore', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpe-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const behaviours = (make: () => CommitmentStore) => {
    it('put / get / delete, keyed by all four parts, addresses case-insensitive', async () => {
      const store = make();
      assert.equal(await store.get(key), undefined);
      await store.put(key, entry);
      await store.put(other, { ...entry, capacity: 7n, committedAtBlock: 99n });
      const checksummed = { ...key, registry: getAddress(key.registry) as Address, sink: getAddress(key.sink) as Address };
      assert.deepEqual(await store.get(checksummed), entry);
      assert.deepEqual(await store.get(other), { ...entry, capacity: 7n, committedAtBlock: 99n });
      await store.delete(key);
      assert.equal(await store.get(key), undefined);
      assert.equal((await store.get(other))?.capacity, 7n);
    });
  };
  describe('in memory', () => behaviours(() => new InMemoryCommitmentStore()));
  let n = 0;
  describe('file', () => behaviours(() => new FileCommitmentStore(join(dir, `s${n++}`, 'pending.json'))));

  it('a missing file is an empty store', async () => {
    const store = new FileCommitmentStore(join(dir, 'absent.json'));
    assert.equal((await store.load()).size, 0);
    assert.equal(await store.get(key), undefined);
  });

  it('survives a new instance: the file is the truth', async () => {
    const path = join(dir, 'reopen.json');
    await new FileCommitmentStore(path).put(key, { ...entry, committedAtBlock: 5n });
    assert.deepEqual(await new FileCommitmentStore(path).get(key), { ...entry, committedAtBlock: 5n });
  });

  it('a corrupt file raises an error naming the path and is never overwritten', async () => {
    const path = join(dir, 'corrupt.json');
    await writeFile(path, '{"version":1,"entries":{"k":');
    const store = new FileCommitmentStore(path);
    await assert.rejects(store.load(), (e: unknown) => e instanceof CommitmentStoreCorruptError && e.path === path && e.message.includes(path));
    await assert.rejects(store.put(key, entry), CommitmentStoreCorruptError);
    assert.equal(await readFile(path, 'utf8'), '{"version":1,"entries":{"k":', 'the corrupt file was rewritten');
    await writeFile(path, JSON.stringify({ version: 1, entries: { k: { capacity: '1', nonce: '0x12', hash: entry.hash } } }));
    await assert.rejects(store.load(), /entry k is malformed/);
  });

  it('atomic: a torn temp file left by a crashed write is ignored; the last good file loads', async () => {
    const path = join(dir, 'atomic', 'pending.json');
    const store = new FileCommitmentStore(path);
    await store.put(key, entry);
    const good = await readFile(path, 'utf8');
    // A write that died after starting its temp file and before the rename.
    const torn = join(dir, 'atomic', `.pending.json.999.deadbeef.tmp`);
    await writeFile(torn, good.slice(0, good.length >> 1));
    assert.deepEqual(await new FileCommitmentStore(path).get(key), entry);
    // Writes go on; each leaves no temp file of its own behind.
    await store.put(other, entry);
    assert.deepEqual([...(await store.load()).keys()].length, 2);
    assert.deepEqual((await readdir(join(dir, 'atomic'))).sort(), ['.pending.json.999.deadbeef.tmp', 'pending.json']);
  });

  it('concurrent changes through one instance are serialised (none lost)', async () => {
    const store = new FileCommitmentStore(join(dir, 'concurrent.json'));
    const keys = Array.from({ length: 8 }, (_, i) => ({ ...key, chainId: 100 + i }));
    await Promise.all(keys.map((k, i) => store.put(k, { ...entry, capacity: BigInt(i) })));
    const loaded = await store.load();
    assert.equal(loaded.size, 8);
  });
});
