import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ewmaFloat, ewmaInto, ewmaStep, ewmaStepsToReach } from '../../src/core/index.ts';

describe('ewmaStep (exact, as on chain)', () => {
  it('computes alpha * target + (1 - alpha) * prev in basis points', () => {
    assert.equal(ewmaStep(0n, 100n, 3000), 30n);
    assert.equal(ewmaStep(30n, 100n, 3000), 51n); // 0.3*100 + 0.7*30 = 51 exactly
    assert.equal(ewmaStep(100n, 0n, 3000), 70n);
  });
  it('rounds up when rising and down when falling', () => {
    assert.equal(ewmaStep(0n, 1n, 3000), 1n); // 0.3 -> 1
    assert.equal(ewmaStep(1n, 0n, 3000), 0n); // 0.7 -> 0
    assert.equal(ewmaStep(10n, 11n, 1), 11n); // 10.0001 -> 11
    assert.equal(ewmaStep(11n, 10n, 1), 10n); // 10.9999 -> 10
  });
  it('is the identity when target == prev and jumps to target at alpha = 10000', () => {
    assert.equal(ewmaStep(42n, 42n, 1), 42n);
    assert.equal(ewmaStep(42n, 7n, 10000), 7n);
    assert.equal(ewmaStep(7n, 42n, 10000n), 42n);
  });
  it('rejects alpha outside [1, 10000] and negative values', () => {
    assert.throws(() => ewmaStep(1n, 2n, 0), RangeError);
    assert.throws(() => ewmaStep(1n, 2n, 10001), RangeError);
    assert.throws(() => ewmaStep(-1n, 2n, 3000), RangeError);
  });
  it('stays between prev and target, never overshoots, never stalls', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: 1, max: 10000 }),
        (prev, target, alpha) => {
          const next = ewmaStep(prev, target, alpha);
          const lo = prev < target ? prev : target;
          const hi = prev < target ? target : prev;
          if (next < lo || next > hi) return false;
          if (prev !== target && next === prev) return false; // moved at least one unit
          // within one unit of the real-valued EWMA
          const exact = (BigInt(alpha) * target + BigInt(10000 - alpha) * prev) * 1n;
          const diff = next * 10000n - exact;
          return diff > -10000n && diff < 10000n;
        },
      ),
      { numRuns: 500 },
    );
  });
  it('always reaches the target (repeated updates converge exactly)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 10n ** 6n }), fc.integer({ min: 100, max: 10000 }), (p, t, a) => {
        const n = ewmaStepsToReach(p, t, a);
        return n >= 0 && n <= 2000;
      }),
    );
    assert.equal(ewmaStepsToReach(0n, 100n, 3000), 11);
  });
});

describe('ewmaFloat', () => {
  it('is the convex combination and stays between prev and target', () => {
    assert.equal(ewmaFloat(0, 100, 0.3), 30);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 0.001, max: 1, noNaN: true }), (p, t, a) => {
        const v = ewmaFloat(p, t, a);
        const lo = Math.min(p, t);
        const hi = Math.max(p, t);
        return v >= lo - 1e-6 * hi && v <= hi + 1e-6 * hi;
      }),
    );
  });
  it('updates arrays in place', () => {
    const s = new Float64Array([0, 10]);
    ewmaInto(s, [10, 0], 0.5);
    assert.deepEqual([...s], [5, 5]);
  });
});
