/**
 * Solidity's checked uint256 arithmetic on bigints, for the exact forms that must agree with the
 * contracts not only where they return but also where they revert: an input on which the contract
 * panics (overflow, underflow, division by zero) makes the TypeScript form throw a RangeError
 * instead of returning a number the chain would never produce.
 */

export const U256_MAX = (1n << 256n) - 1n;

/** `x` if it is a uint256; otherwise the RangeError a checked operation would revert with. */
export function checked(x: bigint, what: string): bigint {
  if (x < 0n || x > U256_MAX) throw new RangeError(`uint256 ${x < 0n ? 'underflow' : 'overflow'} in ${what} (the contract reverts)`);
  return x;
}

/** Throws unless every value is a uint256 (what an ABI-decoded argument always is). */
export function requireUint256(fn: string, ...values: bigint[]): void {
  for (const v of values) {
    if (v < 0n || v > U256_MAX) throw new RangeError(`${fn} takes uint256 values, got ${v}`);
  }
}

/**
 * OpenZeppelin `Math.mulDiv(x, y, d[, Rounding.Ceil])`: x * y / d with a full 512-bit product,
 * rounded down (or up with `ceil`). Reverts (throws) when d == 0 or the result exceeds uint256,
 * the rounded-up result included (OZ adds the rounding bit with checked arithmetic).
 */
export function mulDiv(x: bigint, y: bigint, d: bigint, ceil = false): bigint {
  if (d === 0n) throw new RangeError('mulDiv by zero (the contract reverts)');
  const p = x * y;
  const q = p / d;
  return checked(ceil && q * d !== p ? q + 1n : q, 'mulDiv');
}
