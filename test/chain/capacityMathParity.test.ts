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
  OVERFLOW_ALL,
  REMAINDER_TOLERANCE_BPS,
  ewmaStep,
  needsUpdate,
  overflowUnits,
  remainderWorthFolding,
  stakeCap,
} from '../../src/core/index.ts';

const ARTIFACT = new URL('../../out/CapacityMathHarness.sol/CapacityMathHarness.json', import.meta.url);

const harnessAbi = parseAbi([
  'function capacityCap(uint256 stakeAmount, uint256 minStake, uint256 stakeUnit) pure returns (uint256)',
  'function ewma(uint256 prev, uint256 target, uint256 alphaBps) pure returns (uint256)',
  'function outsideDeadband(uint256 current, uint256 target, uint256 thresholdBps) pure returns (bool)',
  'function overflowUnits(uint256 sinkUnits, uint256 inflow, uint256 absorbable) pure returns (uint256)',
  'function remainderWorthFolding(uint256 remainder, uint256 totalUnits, uint256 distributed) pure returns (bool)',
  'function constants() pure returns (uint256 bps, uint256 overflowAll, uint256 remainderToleranceBps)',
]);
type HarnessFunction = Exclude<(typeof harnessAbi)[number]['name'], 'constants'>;
type Triple = [bigint, bigint, bigint];

/** Runs per property: enough to hit every branch many times, with the whole file well under 20 s. */
const RUNS = 300;
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

  const onChain = (functionName: HarnessFunction, args: Triple): Promise<bigint | boolean> =>
    clients.publicClient.readContract({ address: harness, abi: harnessAbi, functionName, args }) as Promise<
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
      { numRuns: RUNS, examples: examples.map((e) => [e]) },
    );
  }

  /** Whether an eth_call reverted (a decoded revert, not a transport failure). */
  async function reverts(functionName: HarnessFunction, args: Triple): Promise<boolean> {
    try {
      await onChain(functionName, args);
      return false;
    } catch (err) {
      if (err instanceof BaseError && err.walk((e) => e instanceof ContractFunctionRevertedError)) return true;
      throw err;
    }
  }

  it('shares the constants BPS, OVERFLOW_ALL and REMAINDER_TOLERANCE_BPS', async () => {
    const [bps, overflowAll, tolerance] = await clients.publicClient.readContract({
      address: harness, abi: harnessAbi, functionName: 'constants',
    });
    assert.equal(bps, BPS);
    assert.equal(overflowAll, OVERFLOW_ALL);
    assert.equal(tolerance, REMAINDER_TOLERANCE_BPS);
  });

  it('capacityCap = stakeCap over the whole uint256 range, perfect squares and the minimum stake', async () => {
    const unit = fc.oneof(fc.constantFrom(1n, 2n, 10n ** 18n), fc.bigInt({ min: 1n, max: 1n << 64n }));
    // stake = k^2 * unit + {-1, 0, 1}: the square root's floor and the division's floor both bite.
    const nearSquare = fc
      .tuple(fc.bigInt({ min: 0n, max: 1n << 64n }), unit, smallOffset)
      .map(([k, u, d]) => [nonNegative(k * k * u + d), u] as [bigint, bigint]);
    const anyStake = fc.tuple(fc.oneof(value, fc.bigInt({ min: 0n, max: U256_MAX })), unit);
    const inputs = fc
      .tuple(fc.oneof(nearSquare, anyStake), fc.oneof(fc.constantFrom(0n, 1n, 100n * 10n ** 18n), value), smallOffset, fc.boolean())
      // Half the time the minimum stake sits right at the stake (equal, one above, one below).
      .map(([[stake, u], min, d, atStake]) => [stake, atStake ? nonNegative(stake + d) : min, u] as Triple);
    const E18 = 10n ** 18n;
    await assertParity('capacityCap', inputs, stakeCap, [
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
});
