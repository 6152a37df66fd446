import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  allocateBackpressure,
  allocateOptimal,
  allocateProportional,
  backpressureInto,
  createWorkspace,
  newStepResult,
  solveLevel,
  totalSpare,
} from '../../src/core/index.ts';

/** Amounts as cents up to 1e4 (exact in binary floating point is not needed; well-conditioned). */
const amount = (max = 10_000) => fc.integer({ min: 0, max: max * 100 }).map((x) => x / 100);
/** A sink: declared/true capacity (sometimes 0) and backlog (often 0). */
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
    r: allocateBackpressure({ declared: s.map((x) => x.d), backlog: s.map((x) => x.q), inflow: m.inflow, buffer, bufferMax: m.bufferMax }),
  };
}

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

  it('never exceeds any sink spare capacity when total spare suffices (and then empties the buffer)', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { buffer, r } = bp(s, m);
        const spare = s.map((x) => Math.max(0, x.d - x.q));
        if (m.inflow + buffer > sumOf(spare)) return true;
        return r.pay.every((x, k) => x <= spare[k] * (1 + EPS) + EPS) && r.buffer === 0 && r.refused === 0;
      }),
      { numRuns: 400 },
    );
  });

  it('holds money in the buffer only while every sink is backlogged, and never beyond bufferMax', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { r } = bp(s, m);
        const someRoom = s.some((x) => x.d > 0 && x.q === 0);
        const anyCapacity = s.some((x) => x.d > 0);
        if (r.buffer > 0 && someRoom) return false;
        if (r.buffer > m.bufferMax * (1 + EPS) + EPS) return false;
        // money is refused only when the buffer is full
        if (r.refused > 0 && !close(r.buffer, m.bufferMax, m.inflow)) return false;
        // with room somewhere, all money goes to the sinks
        if (someRoom && !close(r.toSinks, m.inflow + Math.min(m.buffer, m.bufferMax), m.inflow + m.buffer)) return false;
        return anyCapacity || r.toSinks === 0;
      }),
      { numRuns: 400 },
    );
  });

  it('beyond spare, fills the receiving sinks to a common level (excess in proportion to declared capacity)', () => {
    fc.assert(
      fc.property(sinks, money, (s, m) => {
        const { buffer, r } = bp(s, m);
        const spare = s.map((x) => Math.max(0, x.d - x.q));
        if (m.inflow + buffer <= sumOf(spare) || r.toSinks === 0) return true;
        const level = r.level;
        // every sink with capacity gets max(0, level * d - q); predicted backlog level (q + x - d)/d = level - 1
        return s.every((x, k) => {
          if (!(x.d > 0)) return r.pay[k] === 0;
          const want = Math.max(0, level * x.d - x.q);
          return Math.abs(r.pay[k] - want) <= 1e-7 * Math.max(1, want, r.toSinks);
        });
      }),
      { numRuns: 300 },
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
        return close(partsTotal, r.pay[0], scale * 1e-3) && s.slice(1).every((_, k) => Math.abs(r2.pay[k] - r.pay[k + 1]) <= 1e-9 * Math.max(1, scale));
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
  it('fills spare in proportion when money is short', () => {
    const r = allocateBackpressure({ declared: [10, 20, 30], backlog: [0, 10, 40], inflow: 10 });
    // spare 10, 10, 0 -> 5, 5, 0
    assert.deepEqual([...r.pay], [5, 5, 0]);
    assert.equal(r.buffer, 0);
  });
  it('spreads the excess in proportion to declared capacity among the least backlogged', () => {
    const r = allocateBackpressure({ declared: [10, 30], backlog: [0, 0], inflow: 80 });
    assert.deepEqual([...r.pay], [20, 60]);
    assert.equal(r.level, 2);
  });
  it('skips a backlogged sink until the level reaches it', () => {
    // d = 10 each; sink 1 has backlog 25 (breakpoint level 2.5); 20 to place: spare 10 (sink 0) + excess 10
    const r = allocateBackpressure({ declared: [10, 10], backlog: [0, 25], inflow: 20 });
    assert.deepEqual([...r.pay], [20, 0]);
    const r2 = allocateBackpressure({ declared: [10, 10], backlog: [0, 25], inflow: 40 });
    // level m: 10m + max(0, 10m - 25) = 40 -> m = 3.25 -> 32.5, 7.5
    assert.ok(Math.abs(r2.pay[0] - 32.5) < 1e-12 && Math.abs(r2.pay[1] - 7.5) < 1e-12);
  });
  it('holds money when every sink is backlogged, and refuses what does not fit', () => {
    const r = allocateBackpressure({ declared: [10, 10], backlog: [20, 30], inflow: 100, bufferMax: 25 });
    // no spare; min level q/d = 2 -> buffer may hold up to 2 * 20 = 40 -> 25 kept, 15 refused
    assert.equal(r.buffer, 25);
    assert.equal(r.refused, 15);
    assert.ok(Math.abs(r.toSinks - 60) < 1e-12);
  });
  it('drains the buffer into spare capacity', () => {
    const r = allocateBackpressure({ declared: [10, 10], backlog: [0, 0], inflow: 5, buffer: 10 });
    assert.deepEqual([...r.pay], [7.5, 7.5]);
    assert.equal(r.buffer, 0);
  });
  it('pays nobody when nobody declared capacity', () => {
    const r = allocateBackpressure({ declared: [0, 0], backlog: [0, 0], inflow: 5, bufferMax: 3 });
    assert.deepEqual([...r.pay], [0, 0]);
    assert.equal(r.buffer, 3);
    assert.equal(r.refused, 2);
  });
  it('validates inputs', () => {
    assert.throws(() => allocateBackpressure({ declared: [1, 2], backlog: [0], inflow: 1 }), RangeError);
    assert.throws(() => allocateBackpressure({ declared: [-1], backlog: [0], inflow: 1 }), RangeError);
    assert.throws(() => allocateBackpressure({ declared: [1], backlog: [0], inflow: NaN }), RangeError);
  });
  it('reuses caller buffers without allocating (typed-array form)', () => {
    const d = new Float64Array([10, 20]);
    const q = new Float64Array([0, 0]);
    const out = new Float64Array(2);
    const res = newStepResult();
    const ws = createWorkspace(2);
    backpressureInto(d, q, 45, 0, Infinity, out, res, ws);
    assert.deepEqual([...out], [15, 30]);
    assert.equal(res.toSinks, 45);
  });
});

describe('solveLevel', () => {
  it('matches bisection', () => {
    fc.assert(
      fc.property(sinks, amount(50_000), (s, extra) => {
        const c = s.map((x) => x.d);
        const q = s.map((x) => x.q);
        if (!c.some((x) => x > 0)) return solveLevel(c, q, 1, createWorkspace()) === Infinity;
        const target = totalSpare(c, q) + extra;
        const m = solveLevel(c, q, target, createWorkspace());
        const f = (l: number) => c.reduce((acc, ck, k) => acc + (ck > 0 ? Math.max(0, l * ck - q[k]) : 0), 0);
        let lo = 1;
        let hi = 2;
        while (f(hi) < target) hi *= 2;
        for (let i = 0; i < 200; i++) {
          const mid = (lo + hi) / 2;
          if (f(mid) < target) lo = mid;
          else hi = mid;
        }
        const fits = Math.abs(f(m) - target) <= 1e-9 * Math.max(1, target);
        // With nothing to place, every level up to the first sink's activation fits: only the
        // amount placed is defined then. Otherwise f is strictly increasing and the level unique.
        if (target === 0) return fits;
        return fits && Math.abs(m - hi) <= 1e-9 * Math.max(1, hi);
      }),
      { numRuns: 300 },
    );
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

describe('solveLevel edge cases', () => {
  it('places nothing without NaN when every sink is exactly full', () => {
    // capacity 0.01, backlog 0.02: no spare; the linear bound lands exactly on the breakpoint.
    assert.equal(solveLevel([0.01], [0.02], 0, createWorkspace()), 2);
  });
});
