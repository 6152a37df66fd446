import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/sim/rng.ts';

describe('Rng', () => {
  it('is reproducible from its seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 100 }, () => a.nextU32());
    const xb = Array.from({ length: 100 }, () => b.nextU32());
    const xc = Array.from({ length: 100 }, () => c.nextU32());
    assert.deepEqual(xa, xb);
    assert.notDeepEqual(xa, xc);
    // large seeds use the high bits too
    assert.notEqual(new Rng(2 ** 40).nextU32(), new Rng(0).nextU32());
  });
  it('pins the first draws of seed 1 (changing the generator changes every result)', () => {
    const r = new Rng(1);
    assert.deepEqual(
      Array.from({ length: 3 }, () => r.nextU32()),
      PINNED,
    );
  });
  it('draws uniforms in (0, 1) and normals with the right moments', () => {
    const r = new Rng(7);
    let min = 1;
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = r.uniform();
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    assert.ok(min > 0 && max < 1);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
      s4 += x ** 4;
      if (Math.abs(x) > 3) tail++;
    }
    assert.ok(Math.abs(s / n) < 0.01, `mean ${s / n}`);
    assert.ok(Math.abs(s2 / n - 1) < 0.015, `variance ${s2 / n}`);
    assert.ok(Math.abs(s4 / n - 3) < 0.1, `kurtosis ${s4 / n}`);
    assert.ok(Math.abs(tail / n - 0.0027) < 0.0006, `P(|x| > 3) = ${tail / n}`);
    let e = 0;
    for (let i = 0; i < n; i++) e += r.exp();
    assert.ok(Math.abs(e / n - 1) < 0.01);
  });
  it('samples distinct indices', () => {
    const s = new Rng(3).sample(50, 10);
    assert.equal(new Set(s).size, 10);
    assert.ok([...s].every((i) => i >= 0 && i < 50));
  });
  it('rejects bad seeds', () => {
    assert.throws(() => new Rng(-1), RangeError);
    assert.throws(() => new Rng(1.5), RangeError);
  });
});

const PINNED = [1828152527, 3394835397, 2967886022];
