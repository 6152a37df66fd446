// DashboardState against a live local world: task types, sinks with positive flow rates, the
// source, the buffer, the events and the efficiency, all read from the chain.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DashboardState, formatAmount, type Snapshot } from '../../src/dashboard/state.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { BUFFER_MAX, E18, PRICE, startWorld, type World } from './world.ts';

describe('DashboardState', () => {
  let world: World;
  let state: DashboardState;
  let snap: Snapshot;

  before(async () => {
    world = await startWorld();
    state = new DashboardState({
      deployment: world.deployment,
      publicClient: world.stack.clients.publicClient,
      extra: () => ({ sources: [{ address: world.source.address, name: 'source A', paused: false, requestedRate: world.rate }], devnet: 'test' }),
    });
    snap = await state.poll();
  });
  after(async () => {
    await state?.stop();
    await world?.stack.stop();
  });

  it('shows the task type with its two sinks receiving positive flow', () => {
    assert.equal(snap.error, null);
    assert.equal(snap.token.symbol, 'TUSDx');
    assert.equal(snap.taskTypes.length, 1);
    const [t] = snap.taskTypes;
    assert.equal(t!.name, 'summarize');
    assert.equal(t!.pricePerTask, PRICE);
    assert.equal(t!.bufferMax, BUFFER_MAX);
    assert.equal(t!.baseFee, PRICE);
    assert.ok(t!.inflowRate > 0n, 'inflow');
    assert.equal(t!.sinks.length, 2);
    for (const [i, s] of world.sinks.entries()) {
      const view = t!.sinks.find((k) => k.address === s.account.address);
      assert.ok(view, `sink ${i} listed`);
      assert.equal(view.declared, s.capacity, 'declared = the revealed capacity');
      assert.ok(view.smoothed > 0n && view.smoothed <= s.capacity, `smoothed ${view.smoothed}`);
      assert.ok(view.units > 0n, 'pool units');
      assert.ok(view.flowRate > 0n, `sink ${i} receives a positive flow`);
      assert.equal(view.connected, true);
      assert.ok(view.price >= PRICE);
    }
    const [a, b] = world.sinks.map((s) => t!.sinks.find((k) => k.address === s.account.address)!);
    assert.ok(b!.flowRate > a!.flowRate, 'the larger sink receives more');
  });

  it('lists the source with its flow and the paused state from extra()', () => {
    const src = snap.sources.find((s) => s.address === world.source.address);
    assert.ok(src, 'source listed');
    assert.equal(src.name, 'source A');
    // The GDA rounds a requested rate down to a multiple of the pool's total units.
    assert.ok(src.flowRate <= world.rate && src.flowRate > (world.rate * 99n) / 100n, `source flow ${src.flowRate} vs ${world.rate}`);
    assert.equal(src.paused, false);
    assert.equal(src.taskTypeName, 'summarize');
    assert.equal(snap.sources.filter((s) => s.address === world.source.address).length, 1, 'no duplicate from the GDA events');
    assert.deepEqual(snap.extra, { devnet: 'test' });
  });

  it('computes the efficiency: under capacity every streamed wei reaches a sink', () => {
    const [t] = snap.taskTypes;
    assert.ok(t!.efficiency !== null && t!.efficiency > 0.95 && t!.efficiency <= 1, `efficiency ${t!.efficiency}`);
    assert.equal(snap.history.length, 1);
    assert.equal(snap.history[0]!.efficiency, snap.efficiency);
  });

  it('logs chain events in order and publish() entries', async () => {
    const names = snap.events.map((e) => e.name);
    for (const n of ['TaskTypeRegistered', 'SinkRegistered', 'CapacityRevealed']) assert.ok(names.includes(n), `${n} in ${names}`);
    const reveal = snap.events.find((e) => e.name === 'CapacityRevealed')!;
    assert.match(reveal.text, /declared 10 tasks\/epoch in "summarize"/);
    const seen: string[] = [];
    const off = state.onEvent((e) => seen.push(e.name));
    state.publish({ name: 'AgentStarted', text: 'sink A online' });
    off();
    assert.deepEqual(seen, ['AgentStarted']);
    await bpe.depositToBuffer(world.stack, world.source, world.stack.token, world.taskTypeId, 2n * E18);
    const next = await state.poll();
    assert.ok(next.events.some((e) => e.origin === 'app' && e.text === 'sink A online'));
    const dep = next.events.find((e) => e.name === 'Deposited');
    assert.ok(dep, 'Deposited logged');
    assert.equal(dep.text, `2 TUSDx deposited into the "summarize" buffer by ${world.source.address.slice(0, 6)}…${world.source.address.slice(-4)}`);
    assert.ok(next.taskTypes[0]!.bufferLevel >= 2n * E18);
    assert.equal(next.history.length, 2);
    assert.equal(new Set(next.events.map((e) => e.id)).size, next.events.length, 'no event logged twice');
  });

  it('keeps reading the chain when the extra() hook throws, and names its error', async () => {
    const s2 = new DashboardState({
      deployment: world.deployment,
      publicClient: world.stack.clients.publicClient,
      extra: () => {
        throw new Error('devnet not ready');
      },
    });
    const snap2 = await s2.poll();
    assert.equal(snap2.error, 'extra(): devnet not ready');
    assert.equal(snap2.taskTypes[0]!.sinks.length, 2);
    assert.ok(snap2.sources.some((s) => s.address === world.source.address && s.paused === null), 'found on chain, paused unknown');
  });

  it('formats amounts', () => {
    assert.equal(formatAmount(2n * E18), '2');
    assert.equal(formatAmount(1234567n * 10n ** 12n), '1.2345');
    assert.equal(formatAmount(33_333_333_333_333n), '0.00003333');
    assert.equal(formatAmount(0n), '0');
  });
});
