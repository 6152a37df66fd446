/** Input checks for the convenience (allocating) forms of the core; the `...Into` forms trust their inputs. */

export function checkAmount(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
}

/** All arrays have the same length and hold finite, non-negative numbers. */
export function checkArrays(arrays: Record<string, ArrayLike<number>>): void {
  let len = -1;
  for (const [name, a] of Object.entries(arrays)) {
    if (len < 0) len = a.length;
    else if (a.length !== len) throw new RangeError(`${name} has length ${a.length}, expected ${len}`);
    for (let k = 0; k < a.length; k++) {
      const v = a[k];
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name}[${k}] must be a finite number >= 0, got ${v}`);
    }
  }
}
