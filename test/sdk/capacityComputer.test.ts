import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CapacityComputer } from '../../src/sdk/capacityComputer.ts';

/** A computer with `n` observations of `latency` seconds, of which `failed` failed. */
function measured(options: ConstructorParameters<typeof CapacityComputer>[0], latency: number, n: number, failed = 0) {
  const c = new CapacityComputer(options);
  for (let i = 0; i < n; i++) c.observe(latency, i >= failed);
  return c;
}

describe('CapacityComputer: the formula', () => {
  it('concurrency 4, latency 2 s, epoch 300 s, no errors: raw 600, declared 570 with the 0.95 margin', () => {
    const c = measured({ concurrency: 4, epochSeconds: 300 }, 2, 10);
    assert.equal(c.latency, 2);
    assert.equal(c.errorRate, 0);
    assert.equal(c.capacity(), 570n);
    assert.equal(measured({ concurrency: 4, epochSeconds: 300n, safetyMargin: 1 }, 2, 10).capacity(), 600n);
  });
  it('the error rate lowers it: 1 failure in 4 gives 600 × 0.75 × 0.95 = 427.5 -> 427', () => {
    const c = measured({ concurrency: 4, epochSeconds: 300 }, 2, 4, 1);
    assert.equal(c.errorRate, 0.25);
    assert.equal(c.capacity(), 427n);
  });
  it('averages latency over the sliding window only', () => {
    const c = new CapacityComputer({ concurrency: 1, epochSeconds: 100, safetyMargin: 1, windowSize: 2 });
    c.observe(100, true); // falls out of the window below
    c.observe(1, true);
    c.observe(3, true);
    assert.equal(c.observed, 2);
    assert.equal(c.latency, 2);
    assert.equal(c.capacity(), 50n); // 1 × 100 / 2
  });
  it('failures in the window count until they slide out', () => {
    const c = new CapacityComputer({ concurrency: 1, epochSeconds: 10, safetyMargin: 1, windowSize: 2 });
    c.observe(1, false);
    c.observe(1, true);
    assert.equal(c.capacity(), 5n);
    c.observe(1, true);
    assert.equal(c.errorRate, 0);
    assert.equal(c.capacity(), 10n);
  });
  it('is 0 before any observation, while draining, and when every task failed', () => {
    assert.equal(new CapacityComputer({ concurrency: 4, epochSeconds: 300 }).capacity(), 0n);
    assert.equal(measured({ concurrency: 4, epochSeconds: 300 }, 2, 10).capacity({ draining: true }), 0n);
    assert.equal(measured({ concurrency: 4, epochSeconds: 300 }, 2, 3, 3).capacity(), 0n);
  });
  it('is 0 when the measured latencies are all 0 (no rate measured), not infinite', () => {
    assert.equal(measured({ concurrency: 4, epochSeconds: 300 }, 0, 5).capacity(), 0n);
  });
  it('does not lose a task to binary rounding: 3 × 0.1 s sums to 0.30000000000000004, still 300 / 0.1 × 0.95 = 2850', () => {
    assert.equal(measured({ concurrency: 1, epochSeconds: 300 }, 0.1, 3).capacity(), 2850n);
  });
  it('floors: 1 × 300 / 7 × 0.95 = 40.71 -> 40', () => {
    assert.equal(measured({ concurrency: 1, epochSeconds: 300 }, 7, 3).capacity(), 40n);
  });
});

describe('CapacityComputer: hysteresis', () => {
  it('reports the first measured capacity, then ignores noise inside 5 %', () => {
    const c = measured({ concurrency: 4, epochSeconds: 300, windowSize: 10 }, 2, 10);
    assert.deepEqual(c.next({ backlog: 1 }), { capacity: 570n, backlog: 1n, changed: true });
    for (let i = 0; i < 10; i++) c.observe(2.05, true); // 1200 / 2.05 × 0.95 = 556: -2.5 %
    assert.equal(c.capacity(), 556n);
    assert.deepEqual(c.next({ backlog: 2 }), { capacity: 570n, backlog: 2n, changed: false });
  });
  it('reports a 10 % drop', () => {
    const c = measured({ concurrency: 4, epochSeconds: 300, safetyMargin: 1, windowSize: 10 }, 2, 10);
    assert.equal(c.next({ backlog: 1 }).capacity, 600n);
    for (let i = 0; i < 10; i++) c.observe(2 / 0.9, true); // rate × 0.9
    assert.deepEqual(c.next({ backlog: 1 }), { capacity: 540n, backlog: 1n, changed: true });
    assert.deepEqual(c.next({ backlog: 1 }), { capacity: 540n, backlog: 1n, changed: false });
  });
  it('reports only past the threshold: +5 % is inside, +6 % outside', () => {
    const c = new CapacityComputer({ concurrency: 1, epochSeconds: 1000, safetyMargin: 1, windowSize: 1 });
    c.observe(10, true);
    assert.equal(c.next().capacity, 100n);
    c.observe(10 / 1.05, true);
    assert.equal(c.capacity(), 105n);
    assert.deepEqual(c.next(), { capacity: 100n, backlog: 0n, changed: false });
    c.observe(10 / 1.06, true);
    assert.deepEqual(c.next(), { capacity: 106n, backlog: 0n, changed: true });
  });
  it('reports every one-task change when small (5 % is under one task)', () => {
    const c = new CapacityComputer({ concurrency: 1, epochSeconds: 10, safetyMargin: 1, windowSize: 1 });
    c.observe(1, true);
    assert.equal(c.next().capacity, 10n);
    c.observe(10 / 9, true);
    assert.deepEqual(c.next(), { capacity: 9n, backlog: 0n, changed: true });
  });
  it('reports the backlog crossing zero in both directions even when capacity is steady', () => {
    const c = measured({ concurrency: 4, epochSeconds: 300 }, 2, 10);
    assert.equal(c.next().changed, true); // 0 -> 570
    assert.deepEqual(c.next({ backlog: 0 }), { capacity: 570n, backlog: 0n, changed: false });
    assert.deepEqual(c.next({ backlog: 3 }), { capacity: 570n, backlog: 3n, changed: true });
    assert.deepEqual(c.next({ backlog: 5 }), { capacity: 570n, backlog: 5n, changed: false });
    assert.deepEqual(c.next({ backlog: 0 }), { capacity: 570n, backlog: 0n, changed: true });
  });
  it('reports 0 when it starts draining, and nothing before any observation', () => {
    const c = new CapacityComputer({ concurrency: 4, epochSeconds: 300 });
    assert.deepEqual(c.next(), { capacity: 0n, backlog: 0n, changed: false });
    c.observe(2, true);
    assert.equal(c.next().capacity, 570n);
    assert.deepEqual(c.next({ draining: true }), { capacity: 0n, backlog: 0n, changed: true });
  });
});

describe('CapacityComputer: validation', () => {
  const ok = { concurrency: 4, epochSeconds: 300 };
  const bad: [string, object, RegExp][] = [
    ['concurrency 0', { concurrency: 0 }, /concurrency must be a positive integer, got 0/],
    ['concurrency 1.5', { concurrency: 1.5 }, /concurrency/],
    ['epochSeconds 0', { epochSeconds: 0 }, /epochSeconds must be a positive number, got 0/],
    ['epochSeconds NaN', { epochSeconds: NaN }, /epochSeconds/],
    ['safetyMargin 0', { safetyMargin: 0 }, /safetyMargin must be in \(0, 1\], got 0/],
    ['safetyMargin 1.1', { safetyMargin: 1.1 }, /safetyMargin/],
    ['thresholdBps -1', { thresholdBps: -1 }, /thresholdBps must be an integer in \[0, 10000\], got -1/],
    ['thresholdBps 10001', { thresholdBps: 10_001 }, /thresholdBps/],
    ['windowSize 0', { windowSize: 0 }, /windowSize must be a positive integer, got 0/],
  ];
  for (const [name, override, message] of bad) {
    it(`rejects ${name} with a RangeError naming the field`, () => {
      assert.throws(() => new CapacityComputer({ ...ok, ...override }), (e: unknown) => e instanceof RangeError && message.test(e.message));
    });
  }
  it('rejects negative or non-finite latencies and backlogs', () => {
    const c = new CapacityComputer(ok);
    assert.throws(() => c.observe(-1, true), RangeError);
    assert.throws(() => c.observe(Infinity, true), RangeError);
    assert.throws(() => c.next({ backlog: -1 }), RangeError);
    assert.throws(() => c.next({ backlog: 1.5 }), RangeError);
  });
});
