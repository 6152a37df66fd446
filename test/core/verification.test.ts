import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  expectedCompletions,
  PENALTY_FACTOR_BPS,
  SHORTFALL_TOLERANCE_BPS,
  shortfallPenalty,
  SLASH_BPS,
  stakePerTask,
  STRIKE_THRESHOLD_BPS,
  STRIKES_TO_SLASH,
  strikeSlash,
} from '../../src/core/index.ts';

describe('verification constants (mirrored by the contracts)', () => {
  it('are the documented basis points', () => {
    assert.deepEqual(
      [SHORTFALL_TOLERANCE_BPS, PENALTY_FACTOR_BPS, STRIKE_THRESHOLD_BPS, STRIKES_TO_SLASH, SLASH_BPS],
      [600, 30_000, 5_000, 3, 1_000],
    );
  });
  it('stake per task covers one epoch of penalty: price x epoch x factor', () => {
    assert.equal(stakePerTask(1, 1), 3);
    assert.equal(stakePerTask(2, 10), 60);
  });
});

describe('shortfall penalty (default rule)', () => {
  it('expects what was declared, but never more than what was paid for', () => {
    assert.equal(expectedCompletions(100, 1, 60, 1), 60);
    assert.equal(expectedCompletions(100, 2, 500, 2), 200);
  });
  it('charges 3x the price of completions below 94 % of the expected ones, nothing within the tolerance', () => {
    assert.equal(shortfallPenalty(100, 94, 1), 0);
    assert.equal(shortfallPenalty(100, 100, 1), 0);
    assert.ok(Math.abs(shortfallPenalty(100, 84, 2) - 60) < 1e-9); // (94 - 84) x 2 x 3
  });
  it('makes a lie cost more than it brings in once it exceeds the tolerance: +10 % declared, paid, undelivered', () => {
    const c = 50;
    const extra = 0.1 * c;
    assert.ok(shortfallPenalty(expectedCompletions(1.1 * c, 1, 1.1 * c, 1), c, 1) > extra);
  });
});

describe("the seeds' strike rule", () => {
  it('slashes 10 % of stake on the third consecutive strike and restarts the count', () => {
    const st = { strikes: 0 };
    assert.equal(strikeSlash(st, 100, 40, 1000), 0);
    assert.equal(strikeSlash(st, 100, 40, 1000), 0);
    assert.equal(strikeSlash(st, 100, 40, 1000), 100);
    assert.equal(st.strikes, 0);
  });
  it('a good epoch clears the strikes', () => {
    const st = { strikes: 0 };
    strikeSlash(st, 100, 10, 1000);
    strikeSlash(st, 100, 10, 1000);
    assert.equal(strikeSlash(st, 100, 60, 1000), 0);
    assert.equal(st.strikes, 0);
  });
  it('never strikes a sink that over-declares by 100 % and completes its true capacity', () => {
    const st = { strikes: 0 };
    let slashed = 0;
    for (let e = 0; e < 100; e++) slashed += strikeSlash(st, 2 * 30, 30, 180);
    assert.equal(slashed, 0);
  });
});
