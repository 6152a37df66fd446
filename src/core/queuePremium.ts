/**
 * Queue premium: backpressure in price form (SPEC sections 1 and 3). A sink's own reported backlog
 * q makes it dearer, price = base fee * (1 + gamma * q / C), so at the base fee it absorbs only
 * C / (1 + gamma * q / C) tasks per epoch: the weight the pool routes by. These are the exact rules
 * of `CapacityMath.queueWeight` and `CapacityMath.premiumMultiplierBps`, which the registry (pool
 * units = queueWeight * unitScale) and the PricingCurve (priceOf) apply on chain; a keeper or the
 * SDK predicting a sink's units or price must compute them bit for bit
 * (test/chain/capacityMathParity.test.ts feeds identical inputs to both).
 *
 * All values are uint256 on chain; an input on which the contract reverts throws a RangeError.
 */
import { BPS } from './ewma.ts';
import { checked, mulDiv, requireUint256 } from './uint256.ts';

/** Largest backlog-to-capacity ratio the queue premium prices in (the multiplier's cap). */
export const MAX_PREMIUM_RATIO = 100n;

/**
 * Queue-adjusted capacity weight: `floor(C^2 * 10000 / (C * 10000 + gammaBps * q))`, i.e.
 * C / (1 + gamma * q / C) rounded down; exactly C without backlog and 0 without capacity.
 * Reverts on chain (throws here) when C^2 or the denominator overflows uint256.
 */
export function queueWeight(capacity: bigint, backlog: bigint, premiumBps: bigint): bigint {
  requireUint256('queueWeight', capacity, backlog, premiumBps);
  if (backlog === 0n || capacity === 0n) return capacity;
  const square = checked(capacity * capacity, 'queueWeight: capacity * capacity');
  const denominator = checked(
    checked(capacity * BPS, 'queueWeight: capacity * BPS') + checked(premiumBps * backlog, 'queueWeight: premiumBps * backlog'),
    'queueWeight: denominator',
  );
  return mulDiv(square, BPS, denominator);
}

/**
 * Price multiplier of the queue premium in bps: `10000 + floor(gammaBps * ratioBps / 10000)` with
 * `ratioBps = min(floor(q * 10000 / C), MAX_PREMIUM_RATIO * 10000)`; without capacity the ratio is
 * 0 when q == 0 and the cap otherwise. Both roundings are down, so the premium never exceeds
 * gamma * q / C. Reverts (throws) when q * 10000 / C or the result overflows uint256 (the ratio is
 * computed before the cap, as in Solidity).
 */
export function premiumMultiplierBps(capacity: bigint, backlog: bigint, premiumBps: bigint): bigint {
  requireUint256('premiumMultiplierBps', capacity, backlog, premiumBps);
  const maxRatioBps = MAX_PREMIUM_RATIO * BPS;
  let ratioBps: bigint;
  if (capacity === 0n) ratioBps = backlog === 0n ? 0n : maxRatioBps;
  else {
    const ratio = mulDiv(backlog, BPS, capacity);
    ratioBps = ratio < maxRatioBps ? ratio : maxRatioBps;
  }
  return checked(BPS + mulDiv(premiumBps, ratioBps, BPS), 'premiumMultiplierBps');
}
