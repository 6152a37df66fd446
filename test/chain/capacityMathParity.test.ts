// SPEC section 3: the contracts compute the same numbers as the allocation core. The CapacityMath
// library (through a pass-through harness) runs on anvil; every function gets identical inputs,
// random and edge cases, on both sides, and the results must be equal bit for bit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BaseError,
  ContractFunctionRevertedError,
  parseAbi,
  type Address,
  type Hex,
} from 'viem';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { anvilClients, type AnvilClients } from '../../src/chain/clients.ts';
import { deployBytecode } from '../../src/chain/deploy.ts';
import {
  BPS,
  MAX_PREMIUM_RATIO,
  OVERFLOW_ALL,
  REMAINDER_TOLERANCE_BPS,
  baseFeeStep,
  ewmaStep,
  needsUpdate,
  overflowUnits,
  premiumMultiplierBps,
  queueWeight,
  remainderWorthFolding,
  linearStakeCap,
} from '../../src/core/index.ts';

const ARTIFACT = new URL('../../out-tools/CapacityMathHarness.sol/CapacityMathHarness.json', import.meta.url);

const harnessAbi = parseAbi([
  'function capacityCap(uint256 stakeAmount, uint256 minStake, uint256 stakeUnit) pure returns (uint256)',
  'function ewma(uint256 prev, uint256 target, uint256 alphaBps) pure returns (uint256)',
  'function outsideDeadband(uint256 current, uint256 target, uint256 thresholdBps) pure returns (bool)',
  'function overflowUnits(uint256 sinkUnits, uint256 inflow, uint256 absorbable) pure returns (uint256)',
  'function remainderWorthFolding(uint256 remainder, uint256 totalUnits, uint256 distributed) pure returns (bool)',
  'function queueWeight(uint256 capacity, uint256 backlog, uint256 premiumBps) pure returns (uint256)',
  'function premiumMultiplierBps(uint256 capacity, uint256 backlog, uint256 premiumBps) pure returns (uint256)',
  'function baseFeeStep(uint256 fee, uint256 utilizationBps, uint256 targetBps, uint256 maxStepBps, uint256 floor, uint256 ceiling) pure returns (uint256)',
  'function constants() pure returns (uint256 bps, uint256 overflowAll, uint256 remainderToleranceBps, uint256 maxPremiumRatio)',
]);
type HarnessFunction = Exclude<(typeof harnessAbi)[number]['name'], 'constants'>;
type Triple = [bigint, bigint, bigint];
type Sextuple = [bigint, bigint, bigint, bigint, bigint, bigint];

/** Runs per property: enough to hit every branch many times, with the whole file well under 20 s. */
const RUNS = 300;
/**
 * Bounds each property, shrinking included (shrinking a chained bigint counterexample through eth_calls
 * can otherwise run for minutes); running out of time counts as a failure, never as a pass.
 */
const TIME_LIMIT = { interruptAfterTimeLimit: 15_000, markInterruptAsFailure: true } as const;
const U128 = 1n << 128n;
const U256_MAX = (1n << 256n) - 1n;

// ---------------------------------------------------------------- input generators

/** Values where the Solidity cannot overflow (<= 2^128), biased towards edges and small numbers. */
const value = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 999n, 1000n, 9_999n, 10_000n, 10_001n, 10n ** 18n, U128 - 1n, U128),
  fc.bigInt({ min: 0n, max: 1_000n }),
  fc.bigInt({ min: 0n, max: 10n ** 24n }),
  fc.bigInt({ min: 0n, max: U128 }),
);
/** A second value equal to, next to, or independent of the first. */
const pairOf = (a: fc.Arbitrary<bigint>) =>
  fc.oneof(
    fc.tuple(a, a),
    a.map((v) => [v, v] as [bigint, bigint]),
    fc.tuple(a, fc.bigInt({ min: -2n, max: 2n })).map(([v, d]) => [v, v + d < 0n ? 0n : v + d] as [bigint, bigint]),
  );
const smallOffset = fc.bigInt({ min: -1n, max: 1n });
const nonNegative = (x: bigint) => (x < 0n ? 0n : x);

// ---------------------------------------------------------------- harness

describe('CapacityMath (Solidity) and src/core agree bit for bit', () => {
  let anvil: AnvilInstance;
  let clients: AnvilClients;
  let harness: Address;

  before(async () => {
    const artifact = JSON.parse(readFileSync(ARTIFACT, 'utf8')) as { bytecode: { object: Hex } };
    anvil = await startAnvil();
    clients = anvilClients(anvil.rpcUrl);
    harness = await deployBytecode(clients, 'CapacityMathHarness', artifact.bytecode.object, harnessAbi);
  });
  after(async () => {
    await anvil?.stop();
  });

  const onChain = (functionName: HarnessFunction, args: readonly bigint[]): Promise<bigint | boolean> =>
    clients.publicClient.readContract({ address: harness, abi: harnessAbi, functionName, args } as never) as Promise<
      bigint | boolean
    >;

  /** fast-check over `inputs` (plus fixed `examples`): the eth_call result equals `exact(...)`. */
  async function assertParity(
    functionName: HarnessFunction,
    inputs: fc.Arbitrary<Triple>,
    exact: (a: bigint, b: bigint, c: bigint) => bigint | boolean,
    examples: Triple[],
  ): Promise<void> {
    await fc.assert(
      fc.asyncProperty(inputs, async ([a, b, c]) => {
        const expected = exact(a, b, c);
        const actual = await onChain(functionName, [a, b, c]);
        assert.equal(actual, expected, `${functionName}(${a}, ${b}, ${c}): chain ${actual}, core ${expected}`);
      }),
      { numRuns: RUNS, examples: examples.map((e) => [e]), ...TIME_LIMIT },
    );
  }

  /** Whether an eth_call reverted (a decoded revert, not a transport failure). */
  async function reverts(functionName: HarnessFunction, args: readonly bigint[]): Promise<boolean> {
    try {
      await onChain(functionName, args);
      return false;
    } catch (err) {
      if (err instanceof BaseError && err.walk((e) => e instanceof ContractFunctionRevertedError)) return true;
      throw err;
    }
  }

  /**
   * Like assertParity, for the exact forms that throw where the contract reverts: over `inputs`
   * (plus `examples`), either both return the same value, or the core throws a RangeError and the
   * eth_call reverts. Returns how many inputs returned and how many reverted.
   */
  async function assertParityOrRevert<T extends bigint[]>(
    functionName: HarnessFunction,
    inputs: fc.Arbitrary<T>,
    exact: (...args: T) => bigint,
    examples: T[],
    runs = RUNS,
  ): Promise<{ returned: number; reverted: number }> {
    const counts = { returned: 0, reverted: 0 };
    const call = `${functionName}(${'%s'})`;
    await fc.assert(
      fc.asyncProperty(inputs, async (args) => {
        const label = call.replace('%s', args.join(', '));
        let expected: bigint | undefined;
        try {
          expected = exact(...args);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
        }
        if (expected === undefined) {
          counts.reverted++;
          assert.equal(await reverts(functionName, args), true, `${label}: the core throws, the chain must revert`);
        } else {
          counts.returned++;
          assert.equal(await onChain(functionName, args), expected, `${label}: chain vs core ${expected}`);
        }
      }),
      { numRuns: runs, examples: examples.map((e) => [e]), ...TIME_LIMIT },
    );
    return counts;
  }

  it('shares the constants BPS, OVERFLOW_ALL, REMAINDER_TOLERANCE_BPS and MAX_PREMIUM_RATIO', async () => {
    const [bps, overflowAll, tolerance, maxPremiumRatio] = await clients.publicClient.readContract({
      address: harness, abi: harnessAbi, functionName: 'constants',
    });
    assert.equal(bps, BPS);
    assert.equal(overflowAll, OVERFLOW_ALL);
    assert.equal(tolerance, REMAINDER_TOLERANCE_BPS);
    assert.equal(maxPremiumRatio, MAX_PREMIUM_RATIO);
  });

  it('capacityCap = linearStakeCap over the whole uint256 range, multiples of the unit and the minimum stake', async () => {
    const unit = fc.oneof(fc.constantFrom(1n, 2n, 10n ** 18n), fc.bigInt({ min: 1n, max: 1n << 64n }));
    // stake = k * unit + {-1, 0, 1}: the division's floor bites.
    const nearMultiple = fc
      .tuple(fc.bigInt({ min: 0n, max: 1n << 64n }), unit, smallOffset)
      .map(([k, u, d]) => [nonNegative(k * u + d), u] as [bigint, bigint]);
    const anyStake = fc.tuple(fc.oneof(value, fc.bigInt({ min: 0n, max: U256_MAX })), unit);
    const inputs = fc
      .tuple(fc.oneof(nearMultiple, anyStake), fc.oneof(fc.constantFrom(0n, 1n, 100n * 10n ** 18n), value), smallOffset, fc.boolean())
      // Half the time the minimum stake sits right at the stake (equal, one above, one below).
      .map(([[stake, u], min, d, atStake]) => [stake, atStake ? nonNegative(stake + d) : min, u] as Triple);
    const E18 = 10n ** 18n;
    await assertParity('capacityCap', inputs, linearStakeCap, [
      [0n, 0n, 1n],
      [100n * E18, 100n * E18, E18],
      [100n * E18 - 1n, 100n * E18, E18],
      [400n * E18, 100n * E18, E18],
      [400n * E18 - 1n, 0n, E18],
      [U256_MAX, 0n, 1n],
      [U256_MAX, U256_MAX, 1n],
      [U256_MAX, 0n, U256_MAX],
    ]);
  });

  it('ewma = ewmaStep: rising rounds up, falling down, equal values stay put, alpha from 1 to 10000 bps', async () => {
    const alpha = fc.oneof(fc.constantFrom(1n, 3000n, 5000n, 9_999n, 10_000n), fc.bigInt({ min: 1n, max: 10_000n }));
    const inputs = fc.tuple(pairOf(value), alpha).map(([[prev, target], a]) => [prev, target, a] as Triple);
    await assertParity('ewma', inputs, ewmaStep, [
      [0n, 0n, 3000n],
      [0n, 1n, 1n], // rising by one with the smallest alpha: must still move (ceil)
      [1n, 0n, 1n], // falling by one: floor gets there
      [10n, 30n, 3000n],
      [30n, 10n, 3000n],
      [0n, U128, 10_000n],
      [U128, 0n, 3000n],
      [U128 - 1n, U128, 1n],
      [U128, U128, 10_000n],
    ]);
  });

  it('outsideDeadband = needsUpdate, also exactly at the threshold and for changes to or from zero', async () => {
    const threshold = fc.oneof(fc.constantFrom(0n, 1n, 500n, 9_999n, 10_000n, 20_000n), fc.bigInt({ min: 0n, max: U128 }));
    const random = fc.tuple(pairOf(value), threshold).map(([[c, t], th]) => [c, t, th] as Triple);
    // current = 10000 m and target = current +- th * m (+-1): diff * BPS == th * current, or one off it.
    const boundary = fc
      .tuple(fc.bigInt({ min: 1n, max: 1n << 100n }), fc.bigInt({ min: 0n, max: 10_000n }), smallOffset, fc.boolean())
      .map(([m, th, d, up]) => {
        const current = 10_000n * m;
        return [current, nonNegative(up ? current + th * m + d : current - th * m + d), th] as Triple;
      });
    await assertParity('outsideDeadband', fc.oneof(random, boundary), (c, t, th) => needsUpdate(c, t, th), [
      [0n, 0n, 500n],
      [0n, 1n, 500n],
      [1n, 0n, 500n],
      [10_000n, 10_500n, 500n], // exactly 5 %: inside
      [10_000n, 10_501n, 500n], // just past 5 %: outside
      [10_000n, 9_500n, 500n],
      [10_000n, 9_499n, 500n],
      [U128, U128 - 1n, 0n],
      [U128, 0n, U128],
    ]);
  });

  it('overflowUnits: ceil(U * (R - A) / A), and the three special cases', async () => {
    const random = fc.tuple(value, value, value);
    // R - A = A * n + {-1, 0, 1}: the division is exact or just off it, so the rounding shows.
    const rounding = fc
      .tuple(value, fc.bigInt({ min: 1n, max: U128 }), fc.bigInt({ min: 0n, max: 1_000n }), smallOffset)
      .map(([u, a, n, d]) => [u, nonNegative(a + a * n + d), a] as Triple);
    // Inflow equal to, or one wei past, the absorbable rate.
    const threshold = fc.tuple(value, value, fc.bigInt({ min: 0n, max: 1n })).map(([u, a, d]) => [u, a + d, a] as Triple);
    await assertParity('overflowUnits', fc.oneof(random, rounding, threshold), overflowUnits, [
      [0n, 0n, 0n],
      [60_000n, 100n, 100n], // inflow == absorbable: no overflow
      [0n, 5n, 1n], // no sink units: the buffer alone (1 unit)
      [60_000n, 5n, 0n], // nothing absorbable: U * OVERFLOW_ALL
      [60_000n, 400n, 200n], // double the absorbable rate: as many buffer units as sink units
      [3n, 10n, 7n], // 3 * 3 / 7 = 1.29 -> 2
      [U128, U128, 1n],
      [U128, 1n, 0n],
    ]);
  });

  it('overflowUnits over the whole uint256 range: equal wherever the result fits, a revert exactly where it does not', async () => {
    const any = fc.oneof(fc.bigInt({ min: 0n, max: U256_MAX }), fc.constantFrom(0n, 1n, U256_MAX, U256_MAX - 1n));
    let fits = 0;
    let overflows = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(any, any, any), async ([u, r, a]) => {
        const expected = overflowUnits(u, r, a);
        if (expected > U256_MAX) {
          overflows++;
          assert.equal(await reverts('overflowUnits', [u, r, a]), true, `overflowUnits(${u}, ${r}, ${a}) must revert`);
        } else {
          fits++;
          assert.equal(await onChain('overflowUnits', [u, r, a]), expected, `overflowUnits(${u}, ${r}, ${a})`);
        }
      }),
      {
        numRuns: RUNS,
        ...TIME_LIMIT,
        examples: [
          [[U256_MAX, U256_MAX, 1n << 255n]], // a ~2^511 intermediate, the result fits: mulDiv's 512-bit path
          [[U256_MAX, U256_MAX, 1n]], // (2^256-1)(2^256-2) does not fit
          [[U256_MAX, U256_MAX, U256_MAX - 1n]], // ceil((2^256-1) * 1 / (2^256-2)) = 2
          [[U256_MAX / OVERFLOW_ALL, 1n, 0n]], // U * OVERFLOW_ALL just fits
          [[U256_MAX / OVERFLOW_ALL + 1n, 1n, 0n]], // and just does not
          [[2n, U256_MAX, 1n]],
        ],
      },
    );
    // Both branches must have been exercised, or the property proved little.
    assert.ok(fits > 0 && overflows > 0, `fits ${fits}, overflows ${overflows}`);
  });

  it('remainderWorthFolding: at least one unit and more than 0.1 % of the inflow', async () => {
    const random = fc.tuple(value, value, value);
    // distributed = 999 r + e: r * 10000 vs 10 * (distributed + r) is equal at e = 0.
    const boundary = fc
      .tuple(fc.bigInt({ min: 1n, max: U128 / 1000n }), fc.bigInt({ min: -2n, max: 2n }), fc.constantFrom(0n, -1n, 1n, null))
      .chain(([r, e, unitsOffset]) =>
        (unitsOffset === null ? value : fc.constant(nonNegative(r + unitsOffset))).map(
          (units) => [r, units, nonNegative(999n * r + e)] as Triple,
        ),
      );
    await assertParity('remainderWorthFolding', fc.oneof(random, boundary), remainderWorthFolding, [
      [0n, 0n, 0n],
      [5n, 0n, 0n], // a pool without units: never
      [59_999n, 60_000n, 0n], // less than one unit's worth
      [60_000n, 60_000n, 0n], // one unit's worth, the whole inflow
      [1_000n, 1n, 999_000n], // exactly 0.1 %: not more than it
      [1_000n, 1n, 998_999n], // just over 0.1 %
      [U128, U128, U128],
      [U128, 1n, 0n],
    ]);
  });

  // ---------------------------------------------------------------- queue premium and base fee

  // fast-check counts the examples among the numRuns runs.

  /** What the registry stores: capacity, backlog and weights fit 40 bits (MAX_VALUE = 2^40 - 1). */
  const U40 = (1n << 40n) - 1n;
  const slotValue = fc.oneof(fc.constantFrom(0n, 1n, 2n, U40 - 1n, U40), fc.bigInt({ min: 0n, max: 1_000n }), fc.bigInt({ min: 0n, max: U40 }));
  const premium = fc.oneof(
    fc.constantFrom(0n, 1n, 5_000n, 10_000n, 20_000n, 1_000_000n),
    fc.bigInt({ min: 0n, max: 100_000n }),
    fc.bigInt({ min: 0n, max: U128 }),
  );
  const anyUint = fc.oneof(
    fc.constantFrom(0n, 1n, 10_000n, U128 - 1n, U128, U256_MAX / 10_000n, U256_MAX - 1n, U256_MAX),
    fc.bigInt({ min: 0n, max: U256_MAX }),
  );

  it('queueWeight: C^2 * 10000 / (C * 10000 + gamma * q) rounded down; C without backlog, 0 without capacity', async () => {
    // What the registry feeds it (40-bit values, a sane gamma).
    const stored = fc.tuple(slotValue, slotValue, premium);
    // Huge values where the Solidity does not overflow: C < 2^128, gamma * q small enough.
    const huge = fc
      .tuple(fc.bigInt({ min: 1n, max: U128 - 1n }), fc.bigInt({ min: 0n, max: U128 }), fc.bigInt({ min: 0n, max: 1n << 100n }))
      .map(([c, q, p]) => [c, q, p] as Triple);
    // gamma * q = k * C * 10000 (+-1): 1 + gamma q / C is an integer k + 1, so C / (k + 1) is exact or one off.
    const exactRatio = fc
      .tuple(fc.bigInt({ min: 1n, max: U40 }), fc.bigInt({ min: 1n, max: 1_000n }), fc.constantFrom(1n, 10_000n), smallOffset)
      .map(([c, k, p, d]) => [c, nonNegative((k * c * 10_000n) / p + d), p] as Triple);
    const { reverted } = await assertParityOrRevert('queueWeight', fc.oneof(stored, huge, exactRatio), queueWeight, [
      [0n, 0n, 10_000n],
      [0n, 50n, 10_000n], // no capacity: 0 whatever the backlog
      [30n, 0n, 10_000n], // no backlog: exactly C
      [30n, 0n, U256_MAX], // no backlog: gamma does not matter
      [10n, 10n, 10_000n], // 10 / (1 + 1) = 5
      [10n, 5n, 10_000n], // 100 / 15 = 6.67 -> 6
      [1n, 1n, 0n], // gamma 0: no premium
      [1n, U40, 10_000n], // a tiny capacity under a huge backlog: 0
      [U40, U40, 10_000n],
      [U40, 1n, 1n],
      [U128 - 1n, U128, 1n << 100n], // C^2 just fits
    ]);
    assert.equal(reverted, 0, 'every input of this property fits uint256');
  });

  it('queueWeight over the whole uint256 range: equal where the Solidity returns, a revert exactly where it overflows', async (t) => {
    const counts = await assertParityOrRevert('queueWeight', fc.tuple(anyUint, anyUint, anyUint), queueWeight, [
      [U128, 1n, 1n], // C^2 = 2^256: overflow
      [U128 - 1n, 1n, 1n], // fits
      [U128 - 1n, U256_MAX, 1n], // denominator C * 10000 + q overflows
      [1n, U256_MAX, 1n], // 10000 + (2^256 - 1) overflows
      [1n, U256_MAX - 10_000n, 1n], // the largest denominator that fits
      [1n, U128, U128], // gamma * q = 2^256: overflow
      [U256_MAX, 0n, U256_MAX], // no backlog: returns C before any arithmetic
      [0n, U256_MAX, U256_MAX], // no capacity: 0 before any arithmetic
    ]);
    t.diagnostic(`returned ${counts.returned}, reverted ${counts.reverted}`);
    assert.ok(counts.returned > 0 && counts.reverted > 0, JSON.stringify(counts));
  });

  it('premiumMultiplierBps: 10000 + gamma * min(q * 10000 / C, 100 * 10000) / 10000, the cap without capacity', async () => {
    const stored = fc.tuple(slotValue, slotValue, premium);
    // q = 100 C (+-1): exactly at, just under and just over the MAX_PREMIUM_RATIO cap.
    const atCap = fc
      .tuple(fc.bigInt({ min: 1n, max: U40 }), fc.bigInt({ min: -1n, max: 1n }), premium)
      .map(([c, d, p]) => [c, nonNegative(MAX_PREMIUM_RATIO * c + d), p] as Triple);
    // Huge values: q * 10000 / C and gamma * ratio stay within uint256.
    const huge = fc.tuple(
      fc.bigInt({ min: 0n, max: U128 }),
      fc.bigInt({ min: 0n, max: U128 }),
      fc.bigInt({ min: 0n, max: U256_MAX / (MAX_PREMIUM_RATIO * 2n) }),
    );
    const { reverted } = await assertParityOrRevert('premiumMultiplierBps', fc.oneof(stored, atCap, huge), premiumMultiplierBps, [
      [0n, 0n, 10_000n], // nothing at all: 1x
      [0n, 1n, 10_000n], // backlog without capacity: the cap, 1 + 1 * 100 = 101x
      [0n, 1n, 0n], // gamma 0: 1x whatever happens
      [10n, 0n, 10_000n],
      [10n, 5n, 10_000n], // 1 + 0.5
      [3n, 1n, 10_000n], // 1/3 = 3333 bps -> 13333
      [3n, 1n, 3n], // 3 * 3333 / 10000 = 0.9999 -> 0: the premium rounds down
      [10n, 1_000n, 10_000n], // ratio exactly at the cap
      [10n, 1_001n, 10_000n], // past the cap
      [1n, U40, 10_000n],
      [U40, U40, 10_000n],
      [1n, 1n, U256_MAX / MAX_PREMIUM_RATIO - 10_000n], // largest gamma whose premium still fits at ratio 1
    ]);
    assert.equal(reverted, 0, 'every input of this property fits uint256');
  });

  it('premiumMultiplierBps over the whole uint256 range: equal where the Solidity returns, a revert exactly where it overflows', async (t) => {
    const counts = await assertParityOrRevert('premiumMultiplierBps', fc.tuple(anyUint, anyUint, anyUint), premiumMultiplierBps, [
      [1n, U256_MAX, 0n], // q * 10000 / C overflows before the cap applies: reverts
      [10_000n, U256_MAX, 0n], // q * 10000 / 10000 = q fits: capped, 1x with gamma 0
      [1n, 1n, U256_MAX], // gamma * 10000 / 10000 = gamma, + 10000 overflows
      [1n, 1n, U256_MAX - 10_000n], // just fits
      [0n, 1n, U256_MAX], // gamma * 10^6 / 10^4 = 100 gamma overflows
      [0n, 0n, U256_MAX], // ratio 0: 1x
    ]);
    t.diagnostic(`returned ${counts.returned}, reverted ${counts.reverted}`);
    assert.ok(counts.returned > 0 && counts.reverted > 0, JSON.stringify(counts));
  });

  it('baseFeeStep: ceil up-step (capped), ceil down-step, fee rounded away from itself, clamped to [floor, ceiling]', async () => {
    const target = fc.oneof(fc.constantFrom(1n, 5_000n, 8_000n, 10_000n), fc.bigInt({ min: 1n, max: 10_000n }), fc.bigInt({ min: 1n, max: U128 }));
    const maxStep = fc.oneof(fc.constantFrom(1n, 1_250n, 5_000n, 9_999n, 10_000n), fc.bigInt({ min: 1n, max: 10_000n }));
    const fee = fc.oneof(
      fc.constantFrom(0n, 1n, 2n, 7n, 10n ** 15n, 10n ** 18n, U128),
      fc.bigInt({ min: 0n, max: 10n ** 24n }),
      fc.bigInt({ min: 0n, max: U256_MAX / 2n }), // fee * (10000 + up) / 10000 fits for any up <= 10000
    );
    // Utilisation relative to the target: equal, one off, exactly where the up-step reaches its
    // cap (2 * target), far off, none, and PricingCurve's "no capacity" value.
    const utilisation = (t: bigint) =>
      fc.oneof(
        fc.constantFrom(t, t + 1n, nonNegative(t - 1n), 2n * t, 2n * t + 1n, 2n * t - 1n, 0n, U128 - 1n),
        fc.bigInt({ min: 0n, max: 3n * t }),
        fc.bigInt({ min: 0n, max: U128 }),
      );
    // Bounds: none, around the current fee (at the floor, at the ceiling), crossed, around the
    // creation-price fractions PricingCurve uses.
    const bounds = (f: bigint) =>
      fc
        .oneof(
          fc.constant([0n, U256_MAX] as [bigint, bigint]),
          fc.constantFrom<[bigint, bigint]>([f, U256_MAX], [0n, f], [f, f], [f + 1n, f], [f / 10n, f * 10n], [nonNegative(f - 1n), f + 1n]),
          fc.tuple(fc.bigInt({ min: 0n, max: 2n * f + 2n }), fc.bigInt({ min: 0n, max: 2n * f + 2n })),
        )
        .map(([lo, hi]) => [lo > U256_MAX ? U256_MAX : lo, hi > U256_MAX ? U256_MAX : hi] as [bigint, bigint]);
    const inputs = fc
      .tuple(fee, target, maxStep)
      .chain(([f, t, m]) => fc.tuple(utilisation(t), bounds(f)).map(([u, [lo, hi]]) => [f, u, t, m, lo, hi] as Sextuple));
    const E15 = 10n ** 15n;
    const { reverted } = await assertParityOrRevert('baseFeeStep', inputs, baseFeeStep, [
      [1_000n, 8_000n, 8_000n, 1_250n, 1n, U256_MAX], // at the target: unchanged
      [1_000n, 8_000n, 8_000n, 1_250n, 1_001n, U256_MAX], // at the target, below the floor: the floor
      [1_000n, 8_001n, 8_000n, 1_250n, 1n, U256_MAX], // just above: +1 bps (ceil), +1 wei (ceil)
      [1_000n, 7_999n, 8_000n, 1_250n, 1n, U256_MAX], // just below: -1 bps, -1 wei
      [1n, 8_001n, 8_000n, 1_250n, 1n, U256_MAX], // 1 wei still rises
      [1n, 0n, 8_000n, 1_250n, 1n, U256_MAX], // 1 wei falls to 0, floored back to 1
      [0n, 20_000n, 8_000n, 1_250n, 0n, U256_MAX], // a zero fee stays zero
      [1_000n, 16_000n, 8_000n, 1_250n, 1n, U256_MAX], // u = 2 target: exactly the full step
      [1_000n, U128 - 1n, 8_000n, 1_250n, 1n, U256_MAX], // no capacity: the full step, capped
      [1_000n, 0n, 8_000n, 1_250n, 1n, U256_MAX], // no demand: the full down-step
      [E15, 20_000n, 8_000n, 1_250n, E15 / 10n, E15 * 10n],
      [E15 * 10n, 20_000n, 8_000n, 1_250n, E15 / 10n, E15 * 10n], // at the ceiling: stays
      [E15 / 10n, 0n, 8_000n, 1_250n, E15 / 10n, E15 * 10n], // at the floor: stays
      [1_000n, 20_000n, 8_000n, 1_250n, 2_000n, 1_000n], // floor above ceiling: the floor wins
      [1_000n, 0n, 8_000n, 10_000n, 0n, U256_MAX], // a 100 % step down: to zero
      [U256_MAX / 2n, 20_000n, 8_000n, 10_000n, 0n, U256_MAX], // a huge fee doubles and still fits
    ]);
    assert.equal(reverted, 0, 'every input of this property fits uint256');
  });

  it('baseFeeStep over the whole uint256 range: equal where the Solidity returns, a revert exactly where it does not', async (t) => {
    const small = fc.oneof(fc.constantFrom(0n, 1n, 8_000n, 10_000n, 10_001n, 20_000n), fc.bigInt({ min: 0n, max: 30_000n }));
    const arg = fc.oneof(anyUint, small);
    const counts = await assertParityOrRevert(
      'baseFeeStep',
      fc.tuple(arg, arg, arg, arg, arg, arg),
      baseFeeStep,
      [
        [1_000n, 0n, 0n, 1_250n, 0n, U256_MAX], // target 0: the up branch divides by zero
        [1_000n, 0n, 8_000n, 20_000n, 0n, U256_MAX], // a 200 % down-step: 10000 - down underflows
        [1_000n, 7_000n, 8_000n, 20_000n, 0n, U256_MAX], // 2500 bps of a 200 % step: fine
        [U256_MAX, 8_001n, 8_000n, 1_250n, 0n, U256_MAX], // the fee rises past uint256
        [U256_MAX, 8_000n, 8_000n, 1_250n, 0n, U256_MAX], // at the target: fee * 10000 / 10000 = fee fits
        [1n, U256_MAX, 1n, U256_MAX, 0n, U256_MAX], // 10000 + up overflows
        [1n, U256_MAX, 1n, U256_MAX - 10_000n, 0n, U256_MAX], // just fits; the fee jumps, clamped by nothing
      ],
    );
    t.diagnostic(`returned ${counts.returned}, reverted ${counts.reverted}`);
    assert.ok(counts.returned > 0 && counts.reverted > 0, JSON.stringify(counts));
  });
});
