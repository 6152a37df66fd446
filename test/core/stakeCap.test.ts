import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { capFloat, isqrt, linearStakeCap, stakeCap, stakeCapFloat, stakeCapsInto } from '../../src/core/index.ts';

const E18 = 10n ** 18n;

describe('isqrt', () => {
  it('is exact on small numbers', () => {
    for (let n = 0; n < 2000; n++) {
      const r = isqrt(BigInt(n));
      assert.equal(r, BigInt(Math.floor(Math.sqrt(n))));
    }
  });
  it('r^2 <= n < (r+1)^2 for big numbers', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }), (n) => {
        const r = isqrt(n);
        return r * r <= n && n < (r + 1n) * (r + 1n);
      }),
      { numRuns: 300 },
    );
  });
  it('rejects negatives', () => assert.throws(() => isqrt(-1n), RangeError));
});

describe('stakeCap (exact, as on chain)', () => {
  it('matches the SPEC examples: 100 tokens -> 10, 400 -> 20', () => {
    assert.equal(stakeCap(100n * E18, 100n * E18, E18), 10n);
    assert.equal(stakeCap(400n * E18, 100n * E18, E18), 20n);
    assert.equal(stakeCap(1000n * E18, 100n * E18, E18), 31n);
  });
  it('is zero below the minimum stake', () => {
    assert.equal(stakeCap(100n * E18 - 1n, 100n * E18, E18), 0n);
    assert.equal(stakeCap(0n, 0n, E18), 0n);
  });
  it('divides by the unit before the square root', () => {
    // 399.999... tokens -> floor(399.99) = 399 units -> isqrt = 19
    assert.equal(stakeCap(400n * E18 - 1n, 0n, E18), 19n);
  });
  it('is monotone non-decreasing in stake', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 0n, max: 10n ** 21n }), (a, b, min) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        return stakeCap(lo, min, E18) <= stakeCap(hi, min, E18);
      }),
    );
  });
  it('rejects a zero stake unit', () => assert.throws(() => stakeCap(1n, 0n, 0n), RangeError));
});

describe('stakeCapFloat', () => {
  it('is sqrt(stake / unit) at or above the minimum, else 0', () => {
    assert.equal(stakeCapFloat(400, 100), 20);
    assert.equal(stakeCapFloat(99.9, 100), 0);
    assert.equal(stakeCapFloat(100, 100), 10);
    assert.equal(stakeCapFloat(4e20, 0, 1e18), 20);
  });
  it('is monotone and agrees with the exact form up to the floor', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const exact = Number(stakeCap(BigInt(lo) * E18, 100n * E18, E18));
        const f = stakeCapFloat(lo, 100);
        return stakeCapFloat(lo, 100) <= stakeCapFloat(hi, 100) && Math.floor(f) === exact;
      }),
    );
  });
  it('fills arrays', () => {
    const out = new Float64Array(3);
    stakeCapsInto([100, 50, 900], 100, 1, out);
    assert.deepEqual([...out], [10, 0, 30]);
  });
});

describe('linear stake cap', () => {
  it('backs stake / stakePerTask, nothing below the minimum stake (exact, integer division)', () => {
    assert.equal(linearStakeCap(300n * E18, 100n * E18, 3n * E18), 100n);
    assert.equal(linearStakeCap(301n * E18, 100n * E18, 3n * E18), 100n);
    assert.equal(linearStakeCap(99n * E18, 100n * E18, 3n * E18), 0n);
    assert.throws(() => linearStakeCap(1n, 0n, 0n), RangeError);
  });
  it('splitting a stake over n identities gains nothing (<= 1) under linear, sqrt(n) under sqrt', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 30n }), fc.integer({ min: 1, max: 50 }), (stake, n) => {
        const unit = 3n * E18;
        const each = stake / BigInt(n);
        return BigInt(n) * linearStakeCap(each, 0n, unit) <= linearStakeCap(stake, 0n, unit);
      }),
      { numRuns: 300 },
    );
    for (const n of [2, 5, 10, 20]) {
      assert.ok(Math.abs((n * capFloat('linear', 1000 / n, 0, 3)) / capFloat('linear', 1000, 0, 3) - 1) < 1e-12);
      assert.ok(Math.abs((n * capFloat('sqrt', 1000 / n, 0, 1)) / capFloat('sqrt', 1000, 0, 1) - Math.sqrt(n)) < 1e-12);
    }
  });
});
