/**
 * When the GDA's rounding remainder is worth folding back into a pool's distribution — the exact
 * rule of `CapacityMath.remainderWorthFolding` on chain.
 *
 * Why it exists here: the GDA rounds every distribution down to a multiple of the pool's total
 * units and streams the rest (the remainder, wei/s) to the pool admin, the BackpressurePool. Folding
 * it back (a `distributeFlow(token, self, pool, 0)` re-sync) costs ~350k gas, so the contract only
 * does it once the remainder is material. A keeper or the SDK that predicts what a rebalance or an
 * overflow update will do on chain (and what it will cost) must apply the same rule bit for bit;
 * test/chain/capacityMathParity.test.ts checks that it does.
 */

/** Remainder (wei/s) tolerated before folding: 0.1 % of the pool's whole inflow (in bps). */
export const REMAINDER_TOLERANCE_BPS = 10n;

/**
 * Exact: false when `totalUnits == 0` or `remainder < totalUnits` (re-distributing less than one
 * unit's worth changes nothing); otherwise whether `remainder` is more than
 * REMAINDER_TOLERANCE_BPS of the whole inflow, `remainder * 10000 > 10 * (distributed + remainder)`.
 * All rates in wei/s, all values non-negative.
 */
export function remainderWorthFolding(remainder: bigint, totalUnits: bigint, distributed: bigint): boolean {
  if (remainder < 0n || totalUnits < 0n || distributed < 0n) {
    throw new RangeError('remainderWorthFolding takes non-negative values');
  }
  if (totalUnits === 0n || remainder < totalUnits) return false;
  return remainder * 10_000n > REMAINDER_TOLERANCE_BPS * (distributed + remainder);
}
