// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {BPETest} from "./utils/BPETest.sol";
import {DemandMeter} from "./utils/DemandMeter.sol";
import {PricingCurve} from "../src/PricingCurve.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";

/// @notice The pricing math of CapacityMath (base fee step, queue premium, queue weight): exact
/// examples, then properties over fuzzed inputs. Pure library, no fixture.
contract PricingMathTest is Test {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant TARGET = 8_000;
    uint256 internal constant STEP = 1_250;

    // ---------------------------------------------------------------- baseFeeStep

    function test_baseFeeStep_examples() public pure {
        uint256 f = 1e15;
        uint256 lo = 1e14;
        uint256 hi = 1e16;
        assertEq(CapacityMath.baseFeeStep(f, TARGET, TARGET, STEP, lo, hi), f, "at target: unchanged");
        assertEq(CapacityMath.baseFeeStep(f, 12_000, TARGET, STEP, lo, hi), 1.0625e15, "50 % over target: +6.25 %");
        assertEq(CapacityMath.baseFeeStep(f, 16_000, TARGET, STEP, lo, hi), 1.125e15, "2x target: +12.5 %");
        assertEq(CapacityMath.baseFeeStep(f, type(uint128).max, TARGET, STEP, lo, hi), 1.125e15, "step clamped");
        assertEq(CapacityMath.baseFeeStep(f, 4_000, TARGET, STEP, lo, hi), 0.9375e15, "half the target: -6.25 %");
        assertEq(CapacityMath.baseFeeStep(f, 0, TARGET, STEP, lo, hi), 0.875e15, "no demand: -12.5 %");
        assertEq(CapacityMath.baseFeeStep(1.05e14, 0, TARGET, STEP, lo, hi), lo, "floor");
        assertEq(CapacityMath.baseFeeStep(9.5e15, 16_000, TARGET, STEP, lo, hi), hi, "ceiling");
        assertEq(CapacityMath.baseFeeStep(lo, 0, TARGET, STEP, lo, hi), lo, "stays at the floor");
        assertEq(CapacityMath.baseFeeStep(hi, 16_000, TARGET, STEP, lo, hi), hi, "stays at the ceiling");
        // one bps away from the target still moves the fee, both ways, even a 1-wei fee
        assertEq(CapacityMath.baseFeeStep(f, TARGET + 1, TARGET, STEP, lo, hi), 1.0001e15, "just above: +1 bps");
        assertEq(CapacityMath.baseFeeStep(f, TARGET - 1, TARGET, STEP, lo, hi), 0.9999e15, "just below: -1 bps");
        assertEq(CapacityMath.baseFeeStep(1, TARGET + 1, TARGET, STEP, 1, 100), 2, "1 wei rises");
        assertEq(CapacityMath.baseFeeStep(2, TARGET - 1, TARGET, STEP, 1, 100), 1, "2 wei falls");
        assertEq(CapacityMath.baseFeeStep(1, 0, TARGET, STEP, 1, 100), 1, "1 wei at the floor");
    }

    /// @notice Every step stays in [floor, ceiling], moves by at most maxStep (plus one wei of
    /// rounding), in the direction of the utilisation's gap to the target, and not at all on target.
    /// forge-config: default.fuzz.runs = 2000
    function testFuzz_baseFeeStep_boundedClampedDirected(
        uint256 fee,
        uint256 u,
        uint256 target,
        uint256 maxStep,
        uint256 floor,
        uint256 ceiling,
        uint256 near
    ) public pure {
        target = bound(target, 1, 5 * BPS);
        maxStep = bound(maxStep, 1, BPS - 1);
        floor = bound(floor, 1, 1e30);
        ceiling = bound(ceiling, floor, 1e36);
        fee = bound(fee, floor, ceiling);
        // half the runs probe the rounding band right around the target
        u = near % 2 == 0 ? bound(u, 0, type(uint128).max) : bound(u, target > 50 ? target - 50 : 0, target + 50);
        uint256 next = CapacityMath.baseFeeStep(fee, u, target, maxStep, floor, ceiling);
        assertGe(next, floor, "floor");
        assertLe(next, ceiling, "ceiling");
        uint256 maxMove = Math.mulDiv(fee, maxStep, BPS, Math.Rounding.Ceil);
        if (next > fee) assertLe(next - fee, maxMove, "bounded up-step");
        else assertLe(fee - next, maxMove, "bounded down-step");
        if (u == target) assertEq(next, fee, "on target: unchanged");
        if (u > target) assertGe(next, fee, "demand above target never lowers the fee");
        if (u < target) assertLe(next, fee, "demand below target never raises the fee");
    }

    /// @notice No rounding band freezes the fee: off target it moves unless it sits at the bound
    /// it is moving toward.
    /// forge-config: default.fuzz.runs = 2000
    function testFuzz_baseFeeStep_neverFreezes(
        uint256 fee,
        uint256 delta,
        bool above,
        uint256 target,
        uint256 maxStep,
        uint256 floor,
        uint256 ceiling
    ) public pure {
        target = bound(target, 2, 5 * BPS);
        maxStep = bound(maxStep, 1, BPS - 1);
        floor = bound(floor, 1, 1e30);
        ceiling = bound(ceiling, floor, 1e36);
        fee = bound(fee, floor, ceiling);
        uint256 u = above ? target + bound(delta, 1, type(uint128).max) : target - bound(delta, 1, target);
        uint256 next = CapacityMath.baseFeeStep(fee, u, target, maxStep, floor, ceiling);
        if (above && fee < ceiling) assertGt(next, fee, "rises while below the ceiling");
        if (!above && fee > floor) assertLt(next, fee, "falls while above the floor");
    }

    /// @notice More demand never yields a lower fee, and a higher fee never steps below a lower one.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_baseFeeStep_monotone(uint256 fee1, uint256 fee2, uint256 u1, uint256 u2) public pure {
        uint256 lo = 1e6;
        uint256 hi = 1e30;
        fee1 = bound(fee1, lo, hi);
        fee2 = bound(fee2, fee1, hi);
        u1 = bound(u1, 0, 1e9);
        u2 = bound(u2, u1, 1e9);
        assertLe(
            CapacityMath.baseFeeStep(fee1, u1, TARGET, STEP, lo, hi),
            CapacityMath.baseFeeStep(fee1, u2, TARGET, STEP, lo, hi),
            "monotone in utilisation"
        );
        assertLe(
            CapacityMath.baseFeeStep(fee1, u1, TARGET, STEP, lo, hi),
            CapacityMath.baseFeeStep(fee2, u1, TARGET, STEP, lo, hi),
            "monotone in fee"
        );
    }

    // ---------------------------------------------------------------- premiumMultiplierBps

    function test_premiumMultiplierBps_examples() public pure {
        assertEq(CapacityMath.premiumMultiplierBps(10, 0, BPS), BPS, "no backlog: 1x");
        assertEq(CapacityMath.premiumMultiplierBps(10, 5, BPS), 15_000, "gamma 1, q/C = 0.5: 1.5x");
        assertEq(CapacityMath.premiumMultiplierBps(10, 20, BPS), 30_000, "q/C = 2: 3x");
        assertEq(CapacityMath.premiumMultiplierBps(10, 5, 5_000), 12_500, "gamma 0.5: 1.25x");
        assertEq(CapacityMath.premiumMultiplierBps(10, 5, 0), BPS, "gamma 0: no premium");
        assertEq(CapacityMath.premiumMultiplierBps(10, 1_000, BPS), 101 * BPS, "ratio capped at 100");
        assertEq(CapacityMath.premiumMultiplierBps(10, 10_000, BPS), 101 * BPS, "beyond the cap: the cap");
        assertEq(CapacityMath.premiumMultiplierBps(0, 1, BPS), 101 * BPS, "no capacity, a backlog: the cap");
        assertEq(CapacityMath.premiumMultiplierBps(0, 0, BPS), BPS, "nothing at all: 1x");
        assertEq(CapacityMath.premiumMultiplierBps(3, 1, BPS), 13_333, "rounds down");
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_premiumMultiplierBps_boundsAndMonotonicity(
        uint256 c1,
        uint256 c2,
        uint256 q1,
        uint256 q2,
        uint256 gamma
    ) public pure {
        c1 = bound(c1, 0, CapacityMath.MAX_PREMIUM_RATIO * 2 ** 40);
        c2 = bound(c2, c1, CapacityMath.MAX_PREMIUM_RATIO * 2 ** 40);
        q1 = bound(q1, 0, 2 ** 40);
        q2 = bound(q2, q1, 2 ** 40);
        gamma = bound(gamma, 0, 100 * BPS);
        uint256 m = CapacityMath.premiumMultiplierBps(c1, q1, gamma);
        assertGe(m, BPS, ">= 1x");
        assertLe(m, BPS + gamma * CapacityMath.MAX_PREMIUM_RATIO, "<= 1 + gamma * max ratio");
        assertLe(m, CapacityMath.premiumMultiplierBps(c1, q2, gamma), "non-decreasing in backlog");
        assertGe(m, CapacityMath.premiumMultiplierBps(c2, q1, gamma), "non-increasing in capacity");
        if (q1 == 0) assertEq(m, BPS, "no backlog, no premium");
        if (c1 != 0 && q1 * BPS / c1 <= CapacityMath.MAX_PREMIUM_RATIO * BPS) {
            // exactly 1 + gamma * q / C, rounded down twice
            assertEq(m, BPS + gamma * (q1 * BPS / c1) / BPS, "the formula below the cap");
        }
    }

    // ---------------------------------------------------------------- queueWeight

    function test_queueWeight_examples() public pure {
        assertEq(CapacityMath.queueWeight(10, 0, BPS), 10, "no backlog: C");
        assertEq(CapacityMath.queueWeight(10, 10, BPS), 5, "q = C, gamma 1: C / 2");
        assertEq(CapacityMath.queueWeight(10, 5, BPS), 6, "10 / 1.5 rounds down");
        assertEq(CapacityMath.queueWeight(30, 30, BPS), 15);
        assertEq(CapacityMath.queueWeight(10, 10, 0), 10, "gamma 0: C");
        assertEq(CapacityMath.queueWeight(0, 10, BPS), 0, "no capacity: 0");
        assertEq(CapacityMath.queueWeight(1, 1_000_000, BPS), 0, "a huge queue: 0");
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_queueWeight_boundsAndMonotonicity(uint256 c1, uint256 c2, uint256 q1, uint256 q2, uint256 gamma)
        public
        pure
    {
        uint256 max = CapacityRegistryMax.VALUE;
        c1 = bound(c1, 0, max);
        c2 = bound(c2, c1, max);
        q1 = bound(q1, 0, max);
        q2 = bound(q2, q1, max);
        gamma = bound(gamma, 0, 100 * BPS);
        uint256 w = CapacityMath.queueWeight(c1, q1, gamma);
        assertLe(w, c1, "never above capacity");
        if (q1 == 0 || gamma == 0) assertEq(w, c1, "no queue premium: C");
        if (c1 == 0) assertEq(w, 0);
        assertGe(w, CapacityMath.queueWeight(c1, q2, gamma), "non-increasing in backlog");
        assertLe(w, CapacityMath.queueWeight(c2, q1, gamma), "non-decreasing in capacity");
        if (c1 != 0) {
            // floor(C / (1 + gamma q / C)): w * (C + gamma q) <= C^2 < (w + 1) * (C + gamma q), in bps
            uint256 den = c1 * BPS + gamma * q1;
            assertLe(w * den, c1 * c1 * BPS, "floor: not above");
            assertGt((w + 1) * den, c1 * c1 * BPS, "floor: not a unit below");
        }
    }

    /// @notice The pool's weight and the price agree: a sink's weight times its price multiplier is
    /// its capacity (what it absorbs at its own price), up to the two roundings.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_queueWeightTimesPremiumIsCapacity(uint256 c, uint256 q, uint256 gamma) public pure {
        c = bound(c, 1, 2 ** 40);
        q = bound(q, 0, c * CapacityMath.MAX_PREMIUM_RATIO);
        gamma = bound(gamma, 0, 10 * BPS);
        uint256 w = CapacityMath.queueWeight(c, q, gamma);
        uint256 m = CapacityMath.premiumMultiplierBps(c, q, gamma);
        assertLe(w * m, c * BPS, "w * m <= C: both round down");
        // w loses < 1, the multiplier < gamma / BPS + 1 bps to rounding
        assertGe((w + 1) * m + c * ((gamma + BPS - 1) / BPS + 1), c * BPS, "w * m >= C - rounding");
    }
}

/// @dev The registry's slot limit, without deploying a registry in a pure test.
library CapacityRegistryMax {
    uint256 internal constant VALUE = type(uint40).max;
}

/// @notice PricingCurve on the real Superfluid fixture: construction, the base fee's epoch steps
/// (skipped epochs, floor, ceiling, catch-up bound), the per-sink queue premium that only the sink
/// moves, and the pool and buffer following the price.
contract PricingCurveTest is DemandMeter {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant FLOOR = PRICE * FEE_FLOOR_BPS / BPS; // 1e14
    uint256 internal constant CEILING = PRICE * FEE_CEILING_BPS / BPS; // 1e16

    bytes32 internal id;
    address internal a;
    uint256 internal aKey;
    address internal b;
    uint256 internal bKey;
    address internal src;
    address internal mallory = makeAddr("mallory");

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 1_000e18);
        (a, aKey) = _keyedSink("a", id, 400e18); // cap 20
        (b, bKey) = _keyedSink("b", id, 900e18); // cap 45
        _declareUntilSettled(a, id, 10);
        _declareUntilSettled(b, id, 30);
        bpPool.rebalance(id); // units exactly on capacity (the deadband may have let them lag)
        // 40 tasks/epoch = 40,000 units: every multiple of 3 tasks/epoch is an exact GDA rate
        assertEq(registry.totalWeight(id), 40);
        assertEq(_pool(id).getTotalUnits(), 40_000);
        src = _source("src", 1e30);
        _toEpochStart();
    }

    function _toEpochStart() internal {
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH);
    }

    function _epoch() internal view returns (uint256) {
        return block.timestamp / EPOCH;
    }

    // ---------------------------------------------------------------- constructor

    function test_constructor_setsParameters() public view {
        assertEq(address(pricing.registry()), address(registry));
        assertEq(address(pricing.backpressurePool()), address(bpPool));
        assertEq(pricing.epochSeconds(), EPOCH);
        assertEq(pricing.targetUtilizationBps(), TARGET_UTILIZATION_BPS);
        assertEq(pricing.maxStepBps(), MAX_FEE_STEP_BPS);
        assertEq(pricing.floorBps(), FEE_FLOOR_BPS);
        assertEq(pricing.ceilingBps(), FEE_CEILING_BPS);
        assertEq(pricing.MAX_CATCHUP(), 32);
        assertEq(address(bpPool.pricing()), address(pricing), "the pool prices with it");
        assertEq(address(tracker.pricing()), address(pricing), "the tracker counts paid tasks with it");
    }

    function _deploy(uint256 epochSeconds, uint256 target, uint256 step, uint256 floorBps, uint256 ceilingBps)
        internal
        returns (PricingCurve)
    {
        return new PricingCurve(registry, bpPool, epochSeconds, target, step, floorBps, ceilingBps);
    }

    function test_constructor_revertsInvalidParameters() public {
        bytes memory err = abi.encodeWithSelector(PricingCurve.InvalidParameters.selector);
        vm.expectRevert(err);
        _deploy(0, 8_000, 1_250, 1_000, 100_000); // no epoch
        vm.expectRevert(err);
        _deploy(300, 0, 1_250, 1_000, 100_000); // no target
        vm.expectRevert(err);
        _deploy(300, 8_000, 0, 1_000, 100_000); // a fee that never moves
        vm.expectRevert(err);
        _deploy(300, 8_000, BPS, 1_000, 100_000); // a step that can zero the fee
        vm.expectRevert(err);
        _deploy(300, 8_000, 1_250, 0, 100_000); // no floor
        vm.expectRevert(err);
        _deploy(300, 8_000, 1_250, BPS + 1, 100_000); // floor above the creation price
        vm.expectRevert(err);
        _deploy(300, 8_000, 1_250, 1_000, BPS - 1); // ceiling below the creation price
        uint256 maxCeiling = pricing.MAX_CEILING_BPS();
        assertEq(maxCeiling, BPS << 32);
        vm.expectRevert(err);
        _deploy(300, 8_000, 1_250, 1_000, maxCeiling + 1); // beyond the 128-bit fee slot

        // the edges are valid: a fixed fee (floor = ceiling = creation price), the largest ceiling
        PricingCurve fixedFee = _deploy(1, 1, BPS - 1, BPS, BPS);
        assertEq(fixedFee.floorBps(), BPS);
        PricingCurve widest = _deploy(300, 8_000, 1_250, 1, maxCeiling);
        assertEq(widest.ceilingBps(), maxCeiling);
    }

    /// @notice A fixed-fee curve (floor = ceiling) never moves, whatever the demand.
    function test_fixedFeeCurveNeverMoves() public {
        PricingCurve fixedFee = _deploy(EPOCH, TARGET_UTILIZATION_BPS, MAX_FEE_STEP_BPS, BPS, BPS);
        _stream(src, id, _rate(96));
        fixedFee.advanceEpoch(id);
        vm.warp(block.timestamp + 10 * EPOCH);
        assertEq(fixedFee.advanceEpoch(id), PRICE);
        assertEq(fixedFee.baseFee(id), PRICE);
    }

    // ---------------------------------------------------------------- views and unknown task types

    function test_baseFee_startsAtCreationPrice() public view {
        assertEq(pricing.baseFee(id), PRICE);
        PricingCurve.Fee memory f = pricing.feeState(id);
        assertEq(f.baseFee, 0, "nothing stored before the first advance");
        assertEq(f.epoch, 0);
        assertEq(bpPool.absorbableRate(id), 40 * PRICE / EPOCH, "pool prices capacity at the creation price");
    }

    function test_unknownTaskType_reverts() public {
        bytes32 unknown = keccak256("unknown");
        bytes memory err = abi.encodeWithSelector(PricingCurve.UnknownTaskType.selector, unknown);
        vm.expectRevert(err);
        pricing.baseFee(unknown);
        vm.expectRevert(err);
        pricing.advanceEpoch(unknown);
        vm.expectRevert(err);
        pricing.priceOf(unknown, a);
    }

    function test_utilizationBps_examples() public view {
        // demanded tasks per epoch = inflow * epoch / fee; over capacity, in bps
        assertEq(pricing.utilizationBps(0, 40, PRICE), 0);
        assertEq(pricing.utilizationBps(_rateOf(24), 30, PRICE), 8_000, "24 of 30");
        assertEq(pricing.utilizationBps(_rateOf(30), 30, PRICE), BPS, "30 of 30");
        assertEq(pricing.utilizationBps(_rateOf(30), 30, 2 * PRICE), 5_000, "twice the fee buys half the tasks");
        assertEq(pricing.utilizationBps(_rateOf(60), 30, PRICE), 20_000, "twice the capacity");
        assertEq(pricing.utilizationBps(_rateOf(32), 40, PRICE), 7_999, "rounds down (the rate itself did)");
        assertEq(pricing.utilizationBps(0, 0, PRICE), 0, "no capacity, no demand");
        assertEq(pricing.utilizationBps(1, 0, PRICE), type(uint128).max, "no capacity, any demand: the maximum");
    }

    // ---------------------------------------------------------------- advanceEpoch

    /// @notice The first call only starts the clock: the fee stays at the creation price (even
    /// with demand far above the target), and the readings the next call measures from are
    /// recorded. The next call, an epoch later, takes the first step.
    function test_advanceEpoch_firstCallStartsTheClock() public {
        _stream(src, id, _rate(96)); // 240 % of capacity: would be a full up-step if measured
        vm.warp(block.timestamp + 10);
        uint256 epoch = _epoch();
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, epoch, PRICE, 0);
        vm.prank(mallory); // anyone may
        uint256 fee = pricing.advanceEpoch(id);
        assertEq(fee, PRICE, "no measured epoch yet: the creation price");
        assertEq(pricing.baseFee(id), PRICE);
        PricingCurve.Fee memory f = pricing.feeState(id);
        assertEq(f.baseFee, PRICE);
        assertEq(f.epoch, epoch);
        assertEq(f.measuredAt, block.timestamp, "the clock started");
        assertEq(f.paidIn, bpPool.paidIn(id), "money paid in so far recorded");
        assertGt(f.paidIn, 0, "10 s of the stream");
        assertEq(f.weightSeconds, registry.weightSecondsOf(id), "weight-seconds so far recorded");

        // the stream stops right after: the measured epoch saw no demand
        _stream(src, id, 0);
        vm.warp((epoch + 1) * EPOCH);
        assertEq(pricing.advanceEpoch(id), 0.875e15, "no demand over the epoch: one full down-step");
    }

    function test_advanceEpoch_revertsEpochNotOver() public {
        pricing.advanceEpoch(id);
        uint256 epoch = _epoch();
        vm.expectRevert(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch));
        pricing.advanceEpoch(id);
        vm.warp((epoch + 1) * EPOCH - 1); // last second of the epoch
        vm.expectRevert(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch));
        pricing.advanceEpoch(id);
        vm.warp((epoch + 1) * EPOCH);
        assertEq(pricing.advanceEpoch(id), 0.875e15, "next epoch: the first measured step");
        vm.expectRevert(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch + 1));
        pricing.advanceEpoch(id);
        vm.warp((epoch + 2) * EPOCH);
        assertEq(pricing.advanceEpoch(id), 0.765625e15, "and the next");
    }

    /// @dev Demand is what the pool was paid over the epoch (bpPool.paidIn growth), capacity the
    /// registry's weight-seconds growth: for a constant stream on constant weights (the clock
    /// started before the stream, so no overflow share changed the GDA's rounding) the ratio is
    /// exactly the stream's utilisation.
    function _startClockThenStream(uint256 tasks) internal {
        pricing.advanceEpoch(id);
        _stream(src, id, _rate(tasks));
        assertEq(bpPool.inflowRate(id), _rateOf(tasks), "an exact GDA rate");
        vm.warp(block.timestamp + EPOCH);
    }

    function test_advanceEpoch_demandAboveTargetRaisesFee() public {
        uint256 paid0 = bpPool.paidIn(id);
        uint256 weightSeconds0 = registry.weightSecondsOf(id);
        _startClockThenStream(48); // 120 % of capacity: 1.5x the 80 % target
        assertEq(bpPool.paidIn(id) - paid0, _rateOf(48) * EPOCH, "an epoch of the stream paid in");
        assertEq(registry.weightSecondsOf(id) - weightSeconds0, 40 * EPOCH, "an epoch of weight 40");
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, _epoch(), 1.0625e15, 12_000);
        assertEq(pricing.advanceEpoch(id), 1.0625e15, "+ maxStep * (u - target) / target = +6.25 %");
    }

    function test_advanceEpoch_demandFarAboveTargetTakesTheMaxStep() public {
        _startClockThenStream(96); // 240 %
        assertEq(pricing.advanceEpoch(id), 1.125e15, "+12.5 %, no more");
    }

    function test_advanceEpoch_demandBelowTargetLowersFee() public {
        _startClockThenStream(24); // 60 %: a quarter below the target
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, _epoch(), 0.9687e15, 6_000);
        assertEq(pricing.advanceEpoch(id), 0.9687e15, "-3.125 % rounded to -3.13 %");
    }

    /// @notice Skipped epochs replay one step each, re-measuring utilisation at each new fee.
    function test_advanceEpoch_skippedEpochsReplayEachStep() public {
        pricing.advanceEpoch(id); // starts the clock
        vm.warp(block.timestamp + EPOCH);
        assertEq(pricing.advanceEpoch(id), 0.875e15);
        vm.warp(block.timestamp + 3 * EPOCH);
        uint256 epoch = _epoch();
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, epoch, 0.586181640625e15, 0);
        assertEq(pricing.advanceEpoch(id), 0.586181640625e15, "three -12.5 % steps");
        assertEq(pricing.feeState(id).epoch, epoch);
    }

    function test_advanceEpoch_skippedEpochsWithDemandRemeasureAtEachFee() public {
        _startClockThenStream(96);
        assertEq(pricing.advanceEpoch(id), 1.125e15);
        vm.warp(block.timestamp + 2 * EPOCH);
        // step 1: u = 96 / (40 * 1.125) = 21,333 bps -> +12.5 %; step 2: u = 18,962 -> +12.5 %
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, _epoch(), 1.423828125e15, 18_962);
        assertEq(pricing.advanceEpoch(id), 1.423828125e15);
        // ...and it converges: u falls as the fee rises, never below the target in a step
        for (uint256 i; i < 100; ++i) {
            vm.warp(block.timestamp + EPOCH);
            pricing.advanceEpoch(id);
        }
        uint256 u = pricing.utilizationBps(bpPool.inflowRate(id), 40, pricing.baseFee(id));
        assertApproxEqAbs(u, TARGET_UTILIZATION_BPS, 2, "settles on the target utilisation");
        // the measured utilisation of the last epoch agrees with the instantaneous one
        PricingCurve.Fee memory f = pricing.feeState(id);
        vm.warp(block.timestamp + EPOCH);
        uint256 measured = pricing.utilizationBps(
            bpPool.paidIn(id) - f.paidIn, registry.weightSecondsOf(id) - f.weightSeconds, f.baseFee
        );
        assertApproxEqAbs(measured, u, 1, "the epoch's average is the constant stream's rate");
        assertApproxEqRel(pricing.baseFee(id), 3e15, 5e14, "96 tasks over 80 % of 40: 3x the price");
    }

    function test_advanceEpoch_floor() public {
        pricing.advanceEpoch(id);
        vm.warp(block.timestamp + 40 * EPOCH);
        assertEq(pricing.advanceEpoch(id), FLOOR, "held at the floor");
        vm.warp(block.timestamp + EPOCH);
        vm.expectEmit(true, true, true, true, address(pricing));
        emit PricingCurve.BaseFeeUpdated(id, _epoch(), FLOOR, 0);
        assertEq(pricing.advanceEpoch(id), FLOOR, "stays there");
        assertEq(bpPool.absorbableRate(id), 40 * FLOOR / EPOCH, "the pool prices at the floor");
    }

    function test_advanceEpoch_ceiling() public {
        _stream(src, id, 1e18); // thousands of times the capacity
        pricing.advanceEpoch(id);
        vm.warp(block.timestamp + 40 * EPOCH);
        assertEq(pricing.advanceEpoch(id), CEILING, "held at the ceiling");
        vm.warp(block.timestamp + EPOCH);
        assertEq(pricing.advanceEpoch(id), CEILING, "stays there");
    }

    /// @notice A long gap replays at most MAX_CATCHUP steps (on a curve whose ceiling is far away).
    function test_advanceEpoch_catchUpIsBounded() public {
        PricingCurve wide = _deploy(EPOCH, TARGET_UTILIZATION_BPS, MAX_FEE_STEP_BPS, FEE_FLOOR_BPS, 1_000 * BPS);
        _stream(src, id, 1e18);
        uint256 fee = wide.advanceEpoch(id);
        assertEq(fee, PRICE, "the first call starts the clock");
        vm.warp(block.timestamp + 100 * EPOCH);
        for (uint256 i; i < 32; ++i) {
            fee = Math.mulDiv(fee, BPS + MAX_FEE_STEP_BPS, BPS, Math.Rounding.Ceil);
        }
        assertEq(wide.advanceEpoch(id), fee, "32 max steps, not 100");
        assertLt(fee, 1_000 * PRICE, "short of the ceiling");
        assertEq(wide.feeState(id).epoch, _epoch(), "the clock catches up entirely");
    }

    /// @notice The largest valid ceiling (2^32 x the creation price) on the largest creation price
    /// (2^96 - 1) is reached without ever truncating the 128-bit stored fee.
    function test_advanceEpoch_largestCeilingFitsTheFeeSlot() public {
        uint256 price = type(uint96).max;
        bytes32 dear = _taskTypeBy(creator, "dear", price, 0);
        address s = _sink("dear-sink", dear, 100e18);
        _declare(s, dear, 1);
        PricingCurve widest = _deploy(EPOCH, TARGET_UTILIZATION_BPS, MAX_FEE_STEP_BPS, 1, pricing.MAX_CEILING_BPS());
        _stream(src, dear, 1e18);
        _deregister(s, dear); // the stream keeps flowing (into the buffer) with no capacity left
        assertEq(registry.totalWeight(dear), 0);
        assertEq(bpPool.inflowRate(dear), 1e18);
        assertEq(widest.utilizationBps(1e18, 0, price), type(uint128).max, "demand without capacity: maximal");
        uint256 last = widest.advanceEpoch(dear);
        uint256 ceiling = price << 32;
        for (uint256 i; i < 10 && last < ceiling; ++i) {
            vm.warp(block.timestamp + 40 * EPOCH);
            uint256 fee = widest.advanceEpoch(dear);
            assertGt(fee, last, "keeps rising until the ceiling");
            assertEq(widest.baseFee(dear), fee, "stored without truncation");
            last = fee;
        }
        assertEq(last, ceiling, "reached the ceiling");
        assertLt(ceiling, 2 ** 128);
    }

    // ---------------------------------------------------------------- queue premium

    function test_priceOf_queuePremium() public {
        assertEq(pricing.priceOf(id, a), PRICE, "no backlog: the base fee");
        vm.prank(a);
        registry.reportBacklog(id, 5);
        assertEq(pricing.priceOf(id, a), 1.5e15, "base * (1 + 1 * 5 / 10)");
        vm.prank(b);
        registry.reportBacklog(id, 60);
        assertEq(pricing.priceOf(id, b), 3e15, "base * (1 + 60 / 30)");
        vm.prank(b);
        registry.reportBacklog(id, 1_000_000);
        assertEq(pricing.priceOf(id, b), 101 * PRICE, "premium capped at 100 backlogs per unit of capacity");
        assertEq(pricing.priceOf(id, mallory), PRICE, "a stranger quotes the base fee");

        pricing.advanceEpoch(id); // starts the clock
        vm.warp(block.timestamp + EPOCH);
        pricing.advanceEpoch(id); // no demand over the epoch: base -12.5 %
        assertEq(pricing.priceOf(id, a), 1.3125e15, "the premium multiplies the new base fee");
    }

    function test_reportBacklog_reweightsThePoolAtOnce() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit CapacityRegistry.BacklogReported(id, a, 5);
        vm.expectEmit(true, true, true, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, a, 6 * UNIT_SCALE);
        vm.prank(a);
        registry.reportBacklog(id, 5);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 10, "capacity untouched");
        assertEq(backlog, 5);
        assertEq(registry.weightOf(id, a), 6, "10 / 1.5");
        assertEq(registry.totalWeight(id), 36);
        assertEq(registry.totalCapacity(id), 40, "declared capacity unchanged");
        assertEq(_units(id, a), 6_000);
        assertEq(bpPool.absorbableRate(id), 36 * PRICE / EPOCH, "the pool absorbs less");

        vm.prank(a);
        registry.reportBacklog(id, 0);
        assertEq(_units(id, a), 10_000, "queue cleared: full weight back");
    }

    /// @notice Nobody moves another sink's load: the caller's own registration is what changes,
    /// and a caller without one is refused.
    function test_reportBacklog_thirdPartyCannotTouchAnotherSink() public {
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, mallory));
        vm.prank(mallory);
        registry.reportBacklog(id, 1_000);

        // a sink of another task type is a stranger here too
        bytes32 other = _taskType("other", 0);
        address carol = _sink("carol", other, 100e18);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, carol));
        vm.prank(carol);
        registry.reportBacklog(id, 1_000);

        // b reporting moves only b
        vm.prank(b);
        registry.reportBacklog(id, 30);
        (, uint256 backlogA) = registry.signalOf(id, a);
        (, uint256 backlogB) = registry.signalOf(id, b);
        assertEq(backlogA, 0, "a untouched");
        assertEq(backlogB, 30);
        assertEq(pricing.priceOf(id, a), PRICE, "a's price untouched");
        assertEq(_units(id, a), 10_000, "a's units untouched");
    }

    function test_reportBacklog_reverts() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, unknown));
        vm.prank(a);
        registry.reportBacklog(unknown, 1);
        uint256 tooLarge = registry.MAX_VALUE() + 1;
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.ValueTooLarge.selector, tooLarge));
        vm.prank(a);
        registry.reportBacklog(id, tooLarge);
    }

    // ---------------------------------------------------------------- the pool and buffer follow the price

    /// @notice A fee change re-sizes the overflow share in the same transaction: more absorbable
    /// payment, a smaller buffer share, more money to the sinks.
    function test_advanceEpoch_repricesAbsorbableRateAndOverflowShare() public {
        pricing.advanceEpoch(id); // starts the clock
        _stream(src, id, _rate(96));
        bpPool.updateOverflow(id);
        uint256 inflow = bpPool.inflowRate(id);
        assertEq(inflow, _rateOf(96));
        uint256 absorbableBefore = bpPool.absorbableRate(id);
        assertEq(absorbableBefore, 40 * PRICE / EPOCH);
        uint256 bufferUnitsBefore = _units(id, address(buffer));
        assertEq(bufferUnitsBefore, CapacityMath.overflowUnits(40_000, inflow, absorbableBefore));
        uint256 sinksRateBefore = _sinksRate(id);

        uint256 absorbableAfter = 40 * uint256(1.125e15) / EPOCH;
        uint256 bufferUnitsAfter = CapacityMath.overflowUnits(40_000, inflow, absorbableAfter);
        assertEq(bufferUnitsAfter, 45_334, "40,000 * (3.2e14 - 1.5e14) / 1.5e14, rounded up");
        vm.warp(block.timestamp + EPOCH); // an epoch of 240 % demand: +12.5 %
        vm.expectEmit(true, true, true, true, address(bpPool));
        emit BackpressurePool.OverflowUnitsUpdated(id, bufferUnitsAfter, inflow, absorbableAfter);
        pricing.advanceEpoch(id);

        assertEq(bpPool.absorbableRate(id), absorbableAfter, "capacity priced at the new fee");
        assertEq(_units(id, address(buffer)), bufferUnitsAfter, "overflow share re-sized at once");
        uint256 sinksRate = _sinksRate(id);
        assertGt(sinksRate, sinksRateBefore, "the sinks receive more");
        assertLe(sinksRate, absorbableAfter, "never more than they absorb");
        assertApproxEqRel(sinksRate, absorbableAfter, 1e13, "all they absorb, up to GDA rounding");
        assertApproxEqRel(_memberRate(id, address(buffer)), inflow - absorbableAfter, 1e13, "buffer: the rest");
    }

    /// @notice And the other way: a falling fee prices capacity lower, so more of a stream overflows.
    function test_fallingFeeGrowsTheOverflowShare() public {
        _stream(src, id, _rate(39)); // just under the capacity at the creation price
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 0, "everything absorbed");
        PricingCurve.Fee memory before = pricing.feeState(id);
        assertEq(before.baseFee, 0);
        // the stream drops to 7.5 % of capacity: from the clock's start, the fee falls each epoch
        _stream(src, id, _rate(3));
        pricing.advanceEpoch(id);
        assertEq(pricing.baseFee(id), PRICE, "the clock started");
        for (uint256 i; i < 7; ++i) {
            vm.warp(block.timestamp + EPOCH);
            pricing.advanceEpoch(id);
        }
        uint256 fee = pricing.baseFee(id);
        assertLt(fee, PRICE / 2, "fee fell");
        _stream(src, id, _rate(39));
        bpPool.updateOverflow(id);
        uint256 absorbable = 40 * fee / EPOCH;
        assertEq(bpPool.absorbableRate(id), absorbable);
        assertGt(_units(id, address(buffer)), 0, "the same stream now overflows");
        assertLe(_sinksRate(id), absorbable, "never more than they absorb");
        // the buffer's units are rounded up (costing the sinks less than one sink unit's share,
        // absorbable / 40,000) and the GDA rounds the per-unit rate down (< 1 wei/s per unit)
        assertApproxEqAbs(
            _sinksRate(id), absorbable, absorbable / 40_000 + 40_000, "sinks get what they absorb at the lower fee"
        );
    }

    // ---------------------------------------------------------------- fuzz: random histories

    /// @dev The DemandMeter's readings at the last advance (`_meter` runs after each action).
    uint256 internal paidAtAdvance;
    uint256 internal weightSecondsAtAdvance;

    /// @notice Random histories of skipped epochs, stream changes, attestations and backlog
    /// reports: the first advance only starts the clock; every later one equals the step-by-step
    /// model run on the utilisation averaged since the previous one (money the pool paid over
    /// weight-seconds, both metered independently here, and agreeing with bpPool.paidIn and
    /// registry.weightSecondsOf), at most MAX_CATCHUP steps, stays in [floor, ceiling], reverts
    /// only with EpochNotOver inside an epoch, and backlog reports and quotes after an advance
    /// never revert.
    /// forge-config: default.fuzz.runs = 200
    function testFuzz_advanceEpoch_randomHistory(uint256 seed) public {
        int96 flow;
        uint32 nonceA;
        uint32 nonceB;
        uint256 paid0 = bpPool.paidIn(id);
        uint256 weightSeconds0 = registry.weightSecondsOf(id);
        _meter(id);
        (meteredPaid, meteredWeightSeconds) = (0, 0);
        for (uint256 round; round < 8; ++round) {
            uint256 r = uint256(keccak256(abi.encode(seed, round)));
            // time: 0 to 40 epochs (0 = same epoch), plus a random offset inside the epoch
            uint256 skip = (r % 5 == 0) ? 0 : (r >> 8) % 41;
            vm.warp(block.timestamp + skip * EPOCH + (r >> 16) % EPOCH);
            _meter(id);
            // stream: 0 to 400 tasks/epoch worth, plus odd wei
            int96 next = int96(int256(((r >> 24) % 401) * PRICE / EPOCH + (r >> 40) % 1e9));
            if ((r >> 56) % 3 == 0 && next != flow && !(flow == 0 && next == 0)) {
                _stream(src, id, next);
                flow = next;
                _meter(id);
            }
            // declarations through attestations (the rate limit may refuse some: that is fine)
            if ((r >> 64) % 2 == 0) _attest(aKey, id, a, (r >> 72) % 50, (r >> 80) % 40, ++nonceA);
            _meter(id);
            if ((r >> 88) % 2 == 0) _attest(bKey, id, b, (r >> 96) % 50, (r >> 104) % 40, ++nonceB);
            _meter(id);
            assertEq(bpPool.paidIn(id) - paid0, meteredPaid, "paidIn grows by what the pool paid out");
            assertEq(registry.weightSecondsOf(id) - weightSeconds0, meteredWeightSeconds, "weight-seconds");
            _advanceAndCheck();
            _meter(id);
            // backlog reports after the advance, by either sink, never revert
            vm.prank((r >> 112) % 2 == 0 ? a : b);
            registry.reportBacklog(id, (r >> 120) % 1_000);
            _meter(id);
            pricing.priceOf(id, a);
            pricing.priceOf(id, b);
            assertEq(
                bpPool.absorbableRate(id),
                registry.totalWeight(id) * pricing.baseFee(id) / EPOCH,
                "pool prices capacity at the current fee"
            );
        }
    }

    function _advanceAndCheck() internal {
        PricingCurve.Fee memory state = pricing.feeState(id);
        uint256 fee = pricing.baseFee(id);
        uint256 epoch = _epoch();
        bool started = state.measuredAt != 0;
        uint256 steps = started ? epoch - state.epoch : 0;
        if (started && steps == 0) {
            vm.expectRevert(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch));
            pricing.advanceEpoch(id);
            return;
        }
        uint256 expected = started
            ? _model(
                fee, steps < 32 ? steps : 32, meteredPaid - paidAtAdvance, meteredWeightSeconds - weightSecondsAtAdvance
            )
            : PRICE; // the first call only starts the clock
        uint256 got = pricing.advanceEpoch(id);
        assertEq(got, expected, "advance equals the step-by-step model");
        assertEq(pricing.baseFee(id), got);
        assertEq(pricing.feeState(id).epoch, epoch);
        assertEq(pricing.feeState(id).measuredAt, block.timestamp);
        assertGe(got, FLOOR);
        assertLe(got, CEILING);
        (paidAtAdvance, weightSecondsAtAdvance) = (meteredPaid, meteredWeightSeconds);
    }

    /// @dev Independent restatement: u = paid * epoch / fee / weight-seconds (bps) -- the same
    /// ratio as inflow * epoch / fee / capacity for averages over one interval -- then one step,
    /// re-measured at each new fee.
    function _model(uint256 fee, uint256 steps, uint256 paid, uint256 weightSeconds) internal pure returns (uint256) {
        for (uint256 i; i < steps; ++i) {
            uint256 u = weightSeconds == 0
                ? (paid == 0 ? 0 : type(uint128).max)
                : Math.mulDiv(paid * EPOCH, BPS, fee * weightSeconds);
            fee = CapacityMath.baseFeeStep(fee, u, TARGET_UTILIZATION_BPS, MAX_FEE_STEP_BPS, FLOOR, CEILING);
        }
        return fee;
    }
}
