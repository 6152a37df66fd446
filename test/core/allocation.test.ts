import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  allocateBackpressure,
  allocateOptimal,
  allocateProportional,
  backpressureInto,
  capacityEstimate,
  measureCapacity,
  newStepResult,
  PROBE,
  shownCapacity,
} from '../../src/core/index.ts';

/** Amounts as cents up to 1e4 (exact in binary floating point is not needed; well-conditioned). */
const amount = (max = 10_000) => fc.integer({ min: 0, max: max * 100 }).map((x) => x / 100);
/** A sink: (estimated or true) capacity (sometimes 0) and backlog (often 0). */
const sink = fc.record({
  d: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: amount(200) }),
  q: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: amount(400) }),
});
const sinks = fc.array(sink, { minLength: 1, maxLength: 40 });
const money = fc.record({
  inflow: amount(20_000),
  buffer: fc.oneof(fc.constant(0), amount(5_000)),
  bufferMax: fc.oneof(fc.constant(Infinity), fc.constant(0), amount(5_000)),
});

const EPS = 1e-9;
const close = (a: number, b: number, scale = 1) => Math.abs(a - b) <= EPS * Math.max(1, scale, Math.abs(a), Math.abs(b));
const sumOf = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

function bp(s: { d: number; q: number }[], m: { inflow: number; buffer: number; bufferMax: number }) {
  const buffer = Math.min(m.buffer, m.bufferMax);
  return {
    buffer,
    r: allocateBackpressure({ capacity: s.map((x) => x.d), backlog: s.map((x) => x.q), inflow: m.inflow, buffer, bufferMax: m.bufferMax }),
  };
}

/** What a sink can take next step: (1 + probe) x capacity - backlog, at least 0. */
const roomOf = (x: { d: number; q: number }) => (x.d > 0 ? Math.max(0, (1 + PROBE) * x.d - x.q) : 0);

describe('backpressure allocation (properties)', () => {
  it('pays non-negative amounts and conserves money: paid + buffer + refused = inflow + buffer in', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { buffer, r } = bp(s, m);
        const total = m.inflow + buffer;
        return (
          r.pay.every((x) => x >= 0 && Number.isFinite(x)) &&
          close(sumOf(r.pay), r.toSinks, total) &&
          close(r.toSinks + r.buffer + r.refused, total, total) &&
          r.buffer >= 0 &&
          r.refused >= 0 &&
          r.refused <= m.inflow + EPS
        );
      }),
      { numRuns: 400 },
    );
  });

  it('never pays a sink beyond its room, whatever the buffer holds (no bursts), and pays min(money, total room)', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { buffer, r } = bp(s, m);
        const room = s.map(roomOf);
        const total = m.inflow + buffer;
        return r.pay.every((x, k) => x <= room[k] * (1 + EPS) + EPS) && close(r.toSinks, Math.min(total, sumOf(room)), total);
      }),
      { numRuns: 400 },
    );
  });

  it('holds money only when every room is full, never beyond bufferMax, and refuses only when the buffer is full', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { buffer, r } = bp(s, m);
        const total = m.inflow + buffer;
        if (r.buffer + r.refused > EPS * Math.max(1, total) && !close(r.toSinks, sumOf(s.map(roomOf)), total)) return false;
        if (r.buffer > m.bufferMax * (1 + EPS) + EPS) return false;
        return !(r.refused > 0) || close(r.buffer, m.bufferMax, total);
      }),
      { numRuns: 400 },
    );
  });

  it('splitting a sink into identities with proportional capacity and backlog gains nothing', () => {
    fc.assert(
      fc.property(sinks, money, fc.integer({ min: 2, max: 7 }), (s, m, n) => {
        const { r } = bp(s, m);
        const split = [...s.slice(1), ...Array.from({ length: n }, () => ({ d: s[0].d / n, q: s[0].q / n }))];
        const { r: r2 } = bp(split, m);
        const partsTotal = sumOf(r2.pay.subarray(s.length - 1));
        const scale = m.inflow + m.buffer;
        return close(partsTotal, r.pay[0], scale * 1e-6) && s.slice(1).every((_, k) => Math.abs(r2.pay[k] - r.pay[k + 1]) <= 1e-9 * Math.max(1, scale));
      }),
      { numRuns: 300 },
    );
  });

  it('is homogeneous: scaling every amount scales every payment', () => {
    fc.assert(
      fc.property(sinks, money, fc.integer({ min: 2, max: 1000 }), (s, m, c) => {
        const { r } = bp(s, m);
        const { r: r2 } = bp(
          s.map((x) => ({ d: x.d * c, q: x.q * c })),
          { inflow: m.inflow * c, buffer: m.buffer * c, bufferMax: m.bufferMax * c },
        );
        return r.pay.every((x, k) => Math.abs(r2.pay[k] - c * x) <= 1e-9 * c * Math.max(1, m.inflow + m.buffer));
      }),
    );
  });
});

describe('backpressure allocation (examples)', () => {
  it('fills rooms in proportion when money is short', () => {
    // rooms 1.05 * c - q: 10.5, 11, 0 -> 21.5 of room for 10.75 of money: half of each
    const r = allocateBackpressure({ capacity: [10, 20, 30], backlog: [0, 10, 40], inflow: 10.75 });
    assert.ok(Math.abs(r.pay[0] - 5.25) < 1e-12 && Math.abs(r.pay[1] - 5.5) < 1e-12 && r.pay[2] === 0);
    assert.equal(r.buffer, 0);
  });
  it('under overload pays every room and buffers the rest instead of building backlogs', () => {
    const r = allocateBackpressure({ capacity: [10, 30], backlog: [0, 0], inflow: 80, probe: 0 });
    assert.deepEqual([...r.pay], [10, 30]);
    assert.equal(r.buffer, 40);
  });
  it('drains a large buffer at most at the rate of the rooms', () => {
    const r = allocateBackpressure({ capacity: [10, 10], backlog: [0, 5], inflow: 5, buffer: 1000, probe: 0 });
    assert.deepEqual([...r.pay], [10, 5]);
    assert.equal(r.buffer, 990);
  });
  it('refuses what does not fit in a full buffer', () => {
    const r = allocateBackpressure({ capacity: [10, 10], backlog: [20, 30], inflow: 100, bufferMax: 25 });
    assert.equal(r.toSinks, 0);
    assert.equal(r.buffer, 25);
    assert.equal(r.refused, 75);
  });
  it('pays nobody when nobody has capacity', () => {
    const r = allocateBackpressure({ capacity: [0, 0], backlog: [0, 0], inflow: 5, bufferMax: 3 });
    assert.deepEqual([...r.pay], [0, 0]);
    assert.equal(r.buffer, 3);
    assert.equal(r.refused, 2);
  });
  it('validates inputs', () => {
    assert.throws(() => allocateBackpressure({ capacity: [1, 2], backlog: [0], inflow: 1 }), RangeError);
    assert.throws(() => allocateBackpressure({ capacity: [-1], backlog: [0], inflow: 1 }), RangeError);
    assert.throws(() => allocateBackpressure({ capacity: [1], backlog: [0], inflow: NaN }), RangeError);
    assert.throws(() => allocateBackpressure({ capacity: [1], backlog: [0], inflow: 1, probe: -0.1 }), RangeError);
  });
  it('reuses caller buffers without allocating (typed-array form)', () => {
    const c = new Float64Array([10, 20]);
    const q = new Float64Array([0, 0]);
    const out = new Float64Array(2);
    const res = newStepResult();
    backpressureInto(c, q, 15, 0, Infinity, out, res, 0);
    assert.deepEqual([...out], [5, 10]);
    assert.equal(res.toSinks, 15);
  });
});

describe('capacity estimate from completions', () => {
  it('uses the declaration until a sink is measured, or what it showed if that is more', () => {
    assert.equal(capacityEstimate(40, NaN, 0), 40);
    assert.equal(capacityEstimate(40, NaN, 45), 45);
    assert.equal(capacityEstimate(40, 25, 45), 25);
  });
  it('a saturated sink is measured at its completions: an over-declarer at once, a failed sink at 0', () => {
    // declared 60, paid 63, completed its true 30: work left over
    assert.equal(measureCapacity(NaN, 0, 63, 30), 30);
    assert.equal(measureCapacity(30, 5, 30, 0), 0);
  });
  it('an unsaturated sink only raises a measurement (a probe that paid off), never lowers it', () => {
    assert.equal(measureCapacity(30, 0, 31.5, 31.5), 31.5);
    assert.equal(measureCapacity(30, 0, 10, 10), 30);
    assert.ok(Number.isNaN(measureCapacity(NaN, 0, 10, 10)));
    assert.equal(shownCapacity(12, 10), 12);
    assert.equal(shownCapacity(12, 14), 14);
  });
});

describe('optimal oracle', () => {
  it('never pays beyond true spare; holds or refuses the rest', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const buffer = Math.min(m.buffer, m.bufferMax);
        const r = allocateOptimal({ capacity: s.map((x) => x.d), backlog: s.map((x) => x.q), inflow: m.inflow, buffer, bufferMax: m.bufferMax });
        const spare = s.map((x) => Math.max(0, x.d - x.q));
        const S = sumOf(spare);
        const total = m.inflow + buffer;
        return (
          r.pay.every((x, k) => x >= 0 && x <= spare[k] * (1 + EPS) + EPS) &&
          close(r.toSinks, Math.min(total, S), total) &&
          close(r.buffer + r.refused, Math.max(0, total - S), total) &&
          r.buffer <= Math.max(m.bufferMax, 0) * (1 + EPS) + EPS
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('proportional allocation', () => {
  it('splits everything by declared capacity (the seeds rule)', () => {
    const r = allocateProportional({ declared: [1, 3], inflow: 100 });
    assert.deepEqual([...r.pay], [25, 75]);
    assert.equal(r.buffer, 0);
  });
  it('with the contracts overflow rule, pays at most the absorbable amount and buffers the rest', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const declared = s.map((x) => x.d);
        const D = sumOf(declared);
        const buffer = Math.min(m.buffer, m.bufferMax);
        const r = allocateProportional({ declared, inflow: m.inflow, buffer, bufferMax: m.bufferMax, absorbable: D });
        const total = m.inflow + buffer;
        return (
          r.toSinks <= D * (1 + EPS) + EPS &&
          close(r.toSinks + r.buffer + r.refused, total, total) &&
          r.pay.every((x, k) => D === 0 || close(x, (declared[k] / D) * r.toSinks, total))
        );
      }),
    );
  });
});
