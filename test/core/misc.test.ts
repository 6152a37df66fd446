import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  capacityUnits,
  capacityUnitsOf,
  effectiveCapacities,
  effectiveCapacitiesExact,
  baseFeeStep,
  needsUpdate,
  nextBaseFee,
  OVERFLOW_ALL,
  overflowShare,
  overflowUnits,
  pricePerTask,
  unitShares,
} from '../../src/core/index.ts';

describe('units', () => {
  it('units = smoothed * unitScale', () => {
    assert.equal(capacityUnits(30n, 1000n), 30000n);
    assert.deepEqual(capacityUnitsOf([1n, 2n, 3n], 10n), [10n, 20n, 30n]);
    const out = new Float64Array(3);
    assert.equal(unitShares([1, 2, 3], out), 6);
    assert.deepEqual([...out], [1 / 6, 2 / 6, 3 / 6]);
    assert.throws(() => capacityUnits(-1n, 1n), RangeError);
  });
});

describe('needsUpdate (5 % deadband)', () => {
  it('mirrors CapacityMath.outsideDeadband', () => {
    assert.equal(needsUpdate(100n, 100n), false);
    assert.equal(needsUpdate(100n, 105n), false); // exactly 5 %: not more than the threshold
    assert.equal(needsUpdate(100n, 106n), true);
    assert.equal(needsUpdate(100n, 95n), false);
    assert.equal(needsUpdate(100n, 94n), true);
    assert.equal(needsUpdate(0n, 1n), true);
    assert.equal(needsUpdate(1n, 0n), true);
    assert.equal(needsUpdate(0n, 0n), false);
    assert.equal(needsUpdate(1000n, 1011n, 100n), true);
    assert.equal(needsUpdate(100, 105.1), true);
    assert.equal(needsUpdate(100, 104.9), false);
  });
  it('bigint and number forms agree on integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 10000 }), (c, t, th) => {
        return needsUpdate(BigInt(c), BigInt(t), BigInt(th)) === needsUpdate(c, t, th);
      }),
    );
  });
});

describe('overflowUnits (buffer share on chain)', () => {
  it('handles the edge cases like the contract', () => {
    assert.equal(overflowUnits(100n, 50n, 50n), 0n);
    assert.equal(overflowUnits(100n, 10n, 50n), 0n);
    assert.equal(overflowUnits(0n, 60n, 50n), 1n);
    assert.equal(overflowUnits(0n, 60n, 0n), 1n);
    assert.equal(overflowUnits(7n, 60n, 0n), 7n * OVERFLOW_ALL);
    assert.equal(overflowUnits(100n, 150n, 100n), 50n);
    assert.equal(overflowUnits(3n, 10n, 7n), 2n); // ceil(3 * 3 / 7) = ceil(1.29)
  });
  it('never overpays the sinks and is the smallest such share', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 24n }), (U, A, extra) => {
        const R = A + extra;
        const B = overflowUnits(U, R, A);
        // sinks receive R * U / (U + B) <= A
        const overpaid = R * U > A * (U + B);
        const minimal = B === 0n || R * U > A * (U + B - 1n);
        return !overpaid && minimal;
      }),
    );
  });
  it('float share', () => {
    assert.equal(overflowShare(100, 80), 0.2);
    assert.equal(overflowShare(50, 80), 0);
    assert.equal(overflowShare(0, 0), 0);
  });
});

describe('pipeline', () => {
  it('C_eff(i) = min(C(i), C_eff(i+1)) back to front', () => {
    assert.deepEqual(effectiveCapacities([10, 5, 8, 3, 9]), [3, 3, 3, 3, 9]);
    assert.deepEqual(effectiveCapacities([1, 2, 3]), [1, 2, 3]);
    assert.deepEqual(effectiveCapacitiesExact([10n, 5n, 8n]), [5n, 5n, 8n]);
    assert.deepEqual(effectiveCapacities([]), []);
  });
});

describe('pricing', () => {
  it('moves toward the target by at most maxChange per epoch', () => {
    const p = { target: 0.8 };
    assert.equal(nextBaseFee(1, 0.8, p), 1);
    assert.equal(nextBaseFee(1, 2, p), 1.125);
    assert.equal(nextBaseFee(1, 0, p), 0.875);
    assert.ok(Math.abs(nextBaseFee(1, 0.9, p) - (1 + 0.125 * 0.125)) < 1e-15);
    assert.ok(Math.abs(nextBaseFee(1, 0.8, p, 2) - 0.875 ** 2) < 1e-15);
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true }), (fee, u) => {
        const n = nextBaseFee(fee, u, p);
        return n >= fee * 0.875 * (1 - 1e-12) && n <= fee * 1.125 * (1 + 1e-12) && (u > 0.8 ? n >= fee : n <= fee);
      }),
    );
  });
  it('exact form (CapacityMath.baseFeeStep): rounds away from the fee, at least 1 wei, clamped to [floor, ceiling]', () => {
    const MAX = 1n << 200n;
    const step = (fee: bigint, u: bigint, floor = 1n, ceiling = MAX) => baseFeeStep(fee, u, 8000n, 1250n, floor, ceiling);
    assert.equal(step(1n, 8100n), 2n); // a tiny rise still moves 1 wei (step and fee both round up)
    assert.equal(step(1000n, 10000n), 1032n); // ceil(1250 * 2000 / 8000) = 313 bps -> ceil(1031.3)
    assert.equal(step(1000n, 0n), 875n);
    assert.equal(step(1000n, 20000n), 1125n); // the up-step is capped at maxStep
    assert.equal(step(3n, 7999n), 2n); // a tiny fall still moves 1 wei
    assert.equal(step(1000n, 8000n), 1000n);
    assert.equal(step(1000n, 8000n, 1001n), 1001n); // at the target, still clamped
    assert.equal(step(1n, 0n), 1n); // at the floor
    assert.equal(step(1000n, 20000n, 1n, 1100n), 1100n); // at the ceiling
    assert.throws(() => baseFeeStep(1n, 0n, 0n, 1250n, 0n, 1n), RangeError); // target 0: division by zero on chain
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 24n }), fc.bigInt({ min: 0n, max: 20000n }), (fee, u) => {
        const n = step(fee, u);
        if (u > 8000n) return n > fee && n <= fee + (fee * 1250n + 9999n) / 10000n;
        if (u < 8000n) return (n < fee || fee === 1n) && n >= 1n && n >= (fee * 8750n) / 10000n;
        return n === fee;
      }),
    );
  });
  it('queue premium: base * (1 + gamma * backlog / capacity), the ratio capped at 100', () => {
    assert.equal(pricePerTask(2, 0, 10), 2);
    assert.equal(pricePerTask(2, 10, 10), 4);
    assert.equal(pricePerTask(2, 5, 10, 0.5), 2.5);
    assert.equal(pricePerTask(2, 5000, 10), 202);
    assert.equal(pricePerTask(2, 1, 0), 202, 'backlog without capacity prices at the cap');
    assert.equal(pricePerTask(2, 0, 0), 2);
  });
});
