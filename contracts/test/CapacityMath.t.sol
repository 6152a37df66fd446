// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Test} from "forge-std/Test.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";

/// @notice The mechanism's integer math: exact examples, then properties over fuzzed inputs.
/// Pure library, so no fixture: these run in microseconds and can afford many runs.
contract CapacityMathTest is Test {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant ALPHA = 3000;
    uint256 internal constant UNIT = 1e18;
    uint256 internal constant MIN = 100e18;

    // ---------------------------------------------------------------- capacityCap

    function test_capacityCap_examples() public pure {
        assertEq(CapacityMath.capacityCap(100e18, MIN, UNIT), 100, "100 tokens -> 100 stake units");
        assertEq(CapacityMath.capacityCap(400e18, MIN, UNIT), 400, "400 tokens -> 400");
        assertEq(CapacityMath.capacityCap(1600e18, MIN, UNIT), 1600, "linear: 4x the stake, 4x the cap");
        assertEq(CapacityMath.capacityCap(399e18, MIN, UNIT), 399);
        assertEq(CapacityMath.capacityCap(100e18 - 1, MIN, UNIT), 0, "below the minimum");
        assertEq(CapacityMath.capacityCap(0, MIN, UNIT), 0);
        assertEq(CapacityMath.capacityCap(120e18 + 5e17, MIN, UNIT), 120, "fractional units floor away");
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_capacityCap_isLinearAboveMinZeroBelow(uint256 stakeAmount) public pure {
        stakeAmount = bound(stakeAmount, 0, 1e40);
        uint256 cap = CapacityMath.capacityCap(stakeAmount, MIN, UNIT);
        if (stakeAmount < MIN) {
            assertEq(cap, 0);
        } else {
            assertEq(cap, stakeAmount / UNIT, "cap = floor(stake / unit)");
            assertLe(cap * UNIT, stakeAmount, "never more units than stake");
            assertGt((cap + 1) * UNIT, stakeAmount, "every whole unit counts");
        }
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_capacityCap_monotoneInStake(uint256 a, uint256 b) public pure {
        a = bound(a, 0, 1e40);
        b = bound(b, a, 1e40);
        assertLe(CapacityMath.capacityCap(a, MIN, UNIT), CapacityMath.capacityCap(b, MIN, UNIT));
    }

    /// @notice Splitting a stake over n identities never gains capacity (gain <= 1: the parts'
    /// caps sum to at most the whole's), and each identity must hold the minimum stake.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_capacityCap_splittingNeverGains(uint256 total, uint8 n) public pure {
        total = bound(total, MIN, 1e30);
        n = uint8(bound(n, 1, 50));
        uint256 whole = CapacityMath.capacityCap(total, MIN, UNIT);
        uint256 part = CapacityMath.capacityCap(total / n, MIN, UNIT);
        uint256 split = part * n;
        assertLe(split, whole, "n parts never back more than the whole");
        if (total / n < MIN) assertEq(part, 0, "identities below the minimum are worthless");
        // the split pays n minimum stakes to be worth anything at all
        if (part != 0) assertGe(total, uint256(n) * MIN, "n identities cost n minimum stakes");
    }

    /// @notice Any uneven split too: the parts' caps sum to at most the whole's (superadditivity of
    /// floor), with equality only when no part wastes a fraction of a unit.
    function testFuzz_capacityCap_unevenSplitNeverGains(uint256 a, uint256 b) public pure {
        a = bound(a, 0, 1e30);
        b = bound(b, 0, 1e30);
        uint256 parts = CapacityMath.capacityCap(a, MIN, UNIT) + CapacityMath.capacityCap(b, MIN, UNIT);
        assertLe(parts, CapacityMath.capacityCap(a + b, MIN, UNIT), "two identities never beat one");
    }

    // ---------------------------------------------------------------- ewma

    function test_ewma_examples() public pure {
        assertEq(CapacityMath.ewma(0, 10, ALPHA), 3, "0.3*10");
        assertEq(CapacityMath.ewma(0, 1, ALPHA), 1, "rises by at least one");
        assertEq(CapacityMath.ewma(10, 0, ALPHA), 7, "0.7*10");
        assertEq(CapacityMath.ewma(1, 0, ALPHA), 0, "falls by at least one");
        assertEq(CapacityMath.ewma(100, 101, ALPHA), 101, "ceil when rising");
        assertEq(CapacityMath.ewma(101, 100, ALPHA), 100, "floor when falling");
        assertEq(CapacityMath.ewma(42, 42, ALPHA), 42);
        assertEq(CapacityMath.ewma(5, 50, BPS), 50, "alpha = 1 jumps");
    }

    /// @notice The distance to the target shrinks to exactly floor(d * (1 - alpha)), both ways:
    /// it never overshoots, and it moves by at least one whenever prev != target.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_ewma_exactContraction(uint256 prev, uint256 target, uint256 alpha) public pure {
        prev = bound(prev, 0, type(uint128).max);
        target = bound(target, 0, type(uint128).max);
        alpha = bound(alpha, 1, BPS);
        uint256 next = CapacityMath.ewma(prev, target, alpha);
        uint256 d = prev > target ? prev - target : target - prev;
        if (prev <= target) {
            assertGe(next, prev, "rising: no step back");
            assertLe(next, target, "rising: no overshoot");
        } else {
            assertLe(next, prev, "falling: no step back");
            assertGe(next, target, "falling: no overshoot");
        }
        uint256 dNext = next > target ? next - target : target - next;
        assertEq(dNext, d * (BPS - alpha) / BPS, "distance contracts by exactly (1 - alpha), floored");
        if (d != 0) assertLt(dNext, d, "moves at least one towards the target");
    }

    /// @notice From any start, alpha = 0.3 reaches the target within 2 * bitlength(distance) steps
    /// (two steps multiply the distance by 0.49 < 1/2), so rounding can never stall the EWMA.
    /// forge-config: default.fuzz.runs = 500
    function testFuzz_ewma_convergesInBoundedSteps(uint64 prev, uint64 target) public pure {
        uint256 d = prev > target ? uint256(prev) - target : uint256(target) - prev;
        uint256 bits;
        for (uint256 x = d; x != 0; x >>= 1) {
            ++bits;
        }
        uint256 c = prev;
        uint256 steps;
        while (c != target) {
            c = CapacityMath.ewma(c, target, ALPHA);
            ++steps;
            assertLe(steps, 2 * bits, "bounded number of steps");
        }
        assertEq(c, target);
    }

    // ---------------------------------------------------------------- outsideDeadband

    function test_outsideDeadband_examples() public pure {
        assertFalse(CapacityMath.outsideDeadband(1000, 1050, 500), "exactly 5% is inside");
        assertTrue(CapacityMath.outsideDeadband(1000, 1051, 500), "just above 5%");
        assertFalse(CapacityMath.outsideDeadband(1000, 950, 500));
        assertTrue(CapacityMath.outsideDeadband(1000, 949, 500));
        assertTrue(CapacityMath.outsideDeadband(0, 1, 500), "from zero always passes");
        assertTrue(CapacityMath.outsideDeadband(1, 0, 500), "to zero always passes");
        assertFalse(CapacityMath.outsideDeadband(0, 0, 500));
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_outsideDeadband_properties(uint256 current, uint256 d, uint256 th, uint256 k) public pure {
        current = bound(current, 1, 1e36);
        d = bound(d, 0, current - 1 == 0 ? 0 : current - 1);
        th = bound(th, 0, BPS - 1);
        k = bound(k, 1, 1e6);
        bool up = CapacityMath.outsideDeadband(current, current + d, th);
        bool down = CapacityMath.outsideDeadband(current, current - d, th);
        // Symmetric around the current value (the band is relative to `current`).
        assertEq(up, down, "symmetric around current");
        // Exactly the definition: |diff| * BPS > th * current.
        assertEq(up, d * BPS > th * current, "definition");
        // Scale-free: multiplying both sides by k changes nothing.
        assertEq(CapacityMath.outsideDeadband(current * k, (current + d) * k, th), up, "scale invariant");
        // Equal values are never outside; a zero threshold catches every difference.
        assertFalse(CapacityMath.outsideDeadband(current, current, th));
        assertEq(CapacityMath.outsideDeadband(current, current + d, 0), d != 0, "zero threshold");
        // Zero on exactly one side always passes.
        assertTrue(CapacityMath.outsideDeadband(0, current, th));
        assertTrue(CapacityMath.outsideDeadband(current, 0, th));
    }

    /// @notice Farther from `current` (same side) never re-enters the band.
    function testFuzz_outsideDeadband_monotoneInDistance(uint256 current, uint256 d1, uint256 d2) public pure {
        current = bound(current, 1, 1e36);
        d1 = bound(d1, 0, 1e36);
        d2 = bound(d2, d1, 1e36);
        if (CapacityMath.outsideDeadband(current, current + d1, 500)) {
            assertTrue(CapacityMath.outsideDeadband(current, current + d2, 500));
        }
    }

    // ---------------------------------------------------------------- remainderWorthFolding

    function test_remainderWorthFolding_examples() public pure {
        assertFalse(CapacityMath.remainderWorthFolding(1e12, 0, 1e15), "no units: folding distributes nothing");
        assertFalse(CapacityMath.remainderWorthFolding(59_999, 60_000, 0), "under one unit's worth");
        assertTrue(CapacityMath.remainderWorthFolding(60_000, 60_000, 0), "the whole inflow is remainder");
        assertFalse(CapacityMath.remainderWorthFolding(1e12, 60_000, 999e12), "exactly 0.1 %: tolerated");
        assertTrue(CapacityMath.remainderWorthFolding(1e12 + 1, 60_000, 999e12), "just above 0.1 %");
    }

    /// @notice Folding happens only when it moves money (>= one unit's worth) and the remainder
    /// is material (> 0.1 % of the pool's inflow); more remainder never turns folding off.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_remainderWorthFolding(uint256 remainder, uint256 units, uint256 distributed, uint256 more)
        public
        pure
    {
        remainder = bound(remainder, 0, 1e30);
        units = bound(units, 0, 1e20);
        distributed = bound(distributed, 0, 1e30);
        more = bound(more, 0, 1e30);
        bool fold = CapacityMath.remainderWorthFolding(remainder, units, distributed);
        assertEq(
            fold,
            units != 0 && remainder >= units
                && remainder * 10_000 > CapacityMath.REMAINDER_TOLERANCE_BPS * (distributed + remainder),
            "definition"
        );
        if (fold) assertTrue(CapacityMath.remainderWorthFolding(remainder + more, units, distributed), "monotone");
    }

    // ---------------------------------------------------------------- overflowUnits

    function test_overflowUnits_examples() public pure {
        assertEq(CapacityMath.overflowUnits(60_000, 100, 100), 0, "inflow == absorbable: no overflow");
        assertEq(CapacityMath.overflowUnits(60_000, 50, 100), 0, "below: no overflow");
        assertEq(CapacityMath.overflowUnits(60_000, 200, 100), 60_000, "twice: half to the buffer");
        assertEq(CapacityMath.overflowUnits(60_000, 101, 100), 600, "1% over");
        assertEq(CapacityMath.overflowUnits(0, 1, 0), 1, "no sink units: the buffer takes everything");
        assertEq(CapacityMath.overflowUnits(7, 1, 0), 7 * CapacityMath.OVERFLOW_ALL, "nothing absorbable");
        assertEq(CapacityMath.overflowUnits(3, 10, 3), 7, "exact");
        assertEq(CapacityMath.overflowUnits(3, 10, 4), 5, "ceil(3*6/4) = ceil(4.5)");
    }

    /// @notice With buffer units B the sinks get inflow * U / (U + B): never more than the
    /// absorbable rate, and B is the least number of units that guarantees it (no needless
    /// overflow).
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_overflowUnits_sinksNeverGetMoreThanAbsorbable(uint256 u, uint256 inflow, uint256 absorbable)
        public
        pure
    {
        u = bound(u, 1, 1e18);
        inflow = bound(inflow, 0, 1e24);
        absorbable = bound(absorbable, 1, 1e24);
        uint256 b = CapacityMath.overflowUnits(u, inflow, absorbable);
        if (inflow <= absorbable) {
            assertEq(b, 0, "no overflow while the sinks can absorb everything");
            return;
        }
        // sinks' share inflow * u / (u + b) <= absorbable  <=>  inflow * u <= absorbable * (u + b)
        assertLe(inflow * u, absorbable * (u + b), "sinks get at most what they absorb");
        // minimal: one unit less would overpay the sinks
        assertGt(inflow * u, absorbable * (u + b - 1), "least such number of units");
    }

    function testFuzz_overflowUnits_degenerateCases(uint256 u, uint256 inflow) public pure {
        u = bound(u, 1, 1e18);
        inflow = bound(inflow, 1, 1e24);
        assertEq(CapacityMath.overflowUnits(0, inflow, inflow - 1), 1, "no sink units");
        assertEq(CapacityMath.overflowUnits(u, inflow, 0), u * CapacityMath.OVERFLOW_ALL, "nothing absorbable");
        // then the sinks get inflow / (1 + OVERFLOW_ALL): under a millionth of it
        assertLe(inflow * u / (u + u * CapacityMath.OVERFLOW_ALL), inflow / 1_000_000);
    }

    // ---------------------------------------------------------------- queueWeight

    uint256 internal constant GAMMA = 10_000; // gamma = 1, as deployed in the fixture

    function test_queueWeight_examples() public pure {
        assertEq(CapacityMath.queueWeight(30, 0, GAMMA), 30, "no backlog: the capacity");
        assertEq(CapacityMath.queueWeight(30, 30, GAMMA), 15, "30 / (1 + 30/30)");
        assertEq(CapacityMath.queueWeight(20, 10, GAMMA), 13, "400 / 30, floored");
        assertEq(CapacityMath.queueWeight(10, 10, 5_000), 6, "gamma 0.5: 10 / 1.5");
        assertEq(CapacityMath.queueWeight(10, 1_000, 0), 10, "gamma 0: backlogs ignored");
        assertEq(CapacityMath.queueWeight(0, 0, GAMMA), 0, "no capacity: no weight");
        assertEq(CapacityMath.queueWeight(0, 5, GAMMA), 0);
        assertEq(CapacityMath.queueWeight(1, type(uint40).max, GAMMA), 0, "a huge queue: nothing");
        uint256 max = type(uint40).max;
        assertEq(CapacityMath.queueWeight(max, 0, GAMMA), max, "no overflow at the slot's largest values");
        assertEq(CapacityMath.queueWeight(max, max, GAMMA), max / 2);
    }

    /// @notice floor(C^2 / (C + gamma * backlog)): exact, never above C, equal to C exactly when
    /// nothing is queued (or gamma is 0).
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_queueWeight_exactAndAtMostTheCapacity(uint256 c, uint256 q, uint256 g) public pure {
        c = bound(c, 0, type(uint40).max);
        q = bound(q, 0, type(uint40).max);
        g = bound(g, 0, 10 * BPS);
        uint256 w = CapacityMath.queueWeight(c, q, g);
        assertLe(w, c, "a backlog never raises the weight");
        if (c == 0) {
            assertEq(w, 0);
            return;
        }
        uint256 den = c * BPS + g * q;
        assertLe(w * den, c * c * BPS, "floor: w <= C^2 / (C + gamma q)");
        assertGt((w + 1) * den, c * c * BPS, "floor: w + 1 > C^2 / (C + gamma q)");
        if (q == 0 || g == 0) assertEq(w, c, "nothing queued: the capacity itself");
        else assertLt(w, c, "something queued: strictly less");
    }

    /// @notice More backlog never weighs more; more capacity never weighs less.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_queueWeight_monotone(uint256 c, uint256 q1, uint256 q2, uint256 dc) public pure {
        c = bound(c, 0, type(uint40).max);
        q1 = bound(q1, 0, type(uint40).max);
        q2 = bound(q2, q1, type(uint40).max);
        dc = bound(dc, 0, type(uint40).max - c);
        assertGe(CapacityMath.queueWeight(c, q1, GAMMA), CapacityMath.queueWeight(c, q2, GAMMA), "in backlog");
        assertLe(CapacityMath.queueWeight(c, q1, GAMMA), CapacityMath.queueWeight(c + dc, q1, GAMMA), "in capacity");
    }

    /// @notice Splitting a sink into k parts of proportional capacity and backlog gains nothing
    /// beyond rounding: the weight is homogeneous, w(kC, kq) = k * w(C, q) up to k - 1.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_queueWeight_splittingGainsNothing(uint256 c, uint256 q, uint256 k) public pure {
        c = bound(c, 1, 1e9);
        q = bound(q, 0, 1e9);
        k = bound(k, 1, 64);
        uint256 whole = CapacityMath.queueWeight(k * c, k * q, GAMMA);
        uint256 parts = k * CapacityMath.queueWeight(c, q, GAMMA);
        assertLe(parts, whole, "the parts never weigh more than the whole");
        assertLe(whole - parts, k - 1, "and lose at most their rounding");
    }

    // ---------------------------------------------------------------- premiumMultiplierBps

    function test_premiumMultiplierBps_examples() public pure {
        assertEq(CapacityMath.premiumMultiplierBps(30, 0, GAMMA), BPS, "no backlog: no premium");
        assertEq(CapacityMath.premiumMultiplierBps(30, 30, GAMMA), 2 * BPS, "1 + 30/30");
        assertEq(CapacityMath.premiumMultiplierBps(30, 15, 5_000), 12_500, "1 + 0.5 * 15/30");
        assertEq(CapacityMath.premiumMultiplierBps(0, 0, GAMMA), BPS, "nothing at all");
        uint256 capped = BPS + CapacityMath.MAX_PREMIUM_RATIO * GAMMA;
        assertEq(CapacityMath.premiumMultiplierBps(0, 1, GAMMA), capped, "a queue without capacity: the cap");
        assertEq(CapacityMath.premiumMultiplierBps(10, 1_000, GAMMA), capped, "100 backlogs per task: the cap");
        assertEq(CapacityMath.premiumMultiplierBps(10, 10_000, GAMMA), capped, "beyond it: still the cap");
    }

    /// @notice The price premium and the routing weight are two faces of one rule: below the
    /// ratio cap, weight * multiplier == capacity, up to rounding and never above.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_premiumMultiplier_timesWeightIsTheCapacity(uint256 c, uint256 q, uint256 g) public pure {
        c = bound(c, 1, type(uint40).max);
        g = bound(g, 0, 10 * BPS);
        q = bound(q, 0, CapacityMath.MAX_PREMIUM_RATIO * c);
        uint256 w = CapacityMath.queueWeight(c, q, g);
        uint256 m = CapacityMath.premiumMultiplierBps(c, q, g);
        assertGe(m, BPS, "never a discount");
        assertLe(w * m, c * BPS, "never above the capacity");
        uint256 e = (g + BPS - 1) / BPS + 1; // what the multiplier's two floors can lose, in bps (rounded up)
        assertApproxEqAbs(w * m / BPS, c, c * e / BPS + (m + e) / BPS + 2);
    }

    // ---------------------------------------------------------------- baseFeeStep

    uint256 internal constant TARGET = 8_000;
    uint256 internal constant STEP = 1_250;

    function test_baseFeeStep_examples() public pure {
        uint256 fee = 1e6;
        assertEq(CapacityMath.baseFeeStep(fee, TARGET, TARGET, STEP, 1, 1e18), fee, "at target: unchanged");
        assertEq(CapacityMath.baseFeeStep(fee, 12_000, TARGET, STEP, 1, 1e18), 1_062_500, "+50 %: +6.25 %");
        assertEq(CapacityMath.baseFeeStep(fee, 16_000, TARGET, STEP, 1, 1e18), 1_125_000, "+100 %: the max step");
        assertEq(CapacityMath.baseFeeStep(fee, 1e6, TARGET, STEP, 1, 1e18), 1_125_000, "clamped to the max step");
        assertEq(CapacityMath.baseFeeStep(fee, 4_000, TARGET, STEP, 1, 1e18), 937_500, "-50 %: -6.25 %");
        assertEq(CapacityMath.baseFeeStep(fee, 0, TARGET, STEP, 1, 1e18), 875_000, "no demand: the max step down");
        assertEq(CapacityMath.baseFeeStep(1, 1e6, TARGET, STEP, 1, 1e18), 2, "rounds up going up: never stuck");
        assertEq(CapacityMath.baseFeeStep(7, 0, TARGET, STEP, 1, 1e18), 6, "rounds down going down");
        assertEq(CapacityMath.baseFeeStep(100, 0, TARGET, STEP, 100, 1e18), 100, "held at the floor");
        assertEq(CapacityMath.baseFeeStep(1e6, 1e6, TARGET, STEP, 1, 1e6), 1e6, "held at the ceiling");
    }

    /// @notice Within [floor, ceiling]; up when demand is at or above target, down below it;
    /// at most one max step either way; monotone in utilisation.
    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_baseFeeStep_properties(uint256 fee, uint256 u1, uint256 u2, uint256 floor, uint256 ceiling)
        public
        pure
    {
        floor = bound(floor, 1, 1e24);
        ceiling = bound(ceiling, floor, 1e27);
        fee = bound(fee, floor, ceiling);
        u1 = bound(u1, 0, 1e9);
        u2 = bound(u2, u1, 1e9);
        uint256 n1 = CapacityMath.baseFeeStep(fee, u1, TARGET, STEP, floor, ceiling);
        uint256 n2 = CapacityMath.baseFeeStep(fee, u2, TARGET, STEP, floor, ceiling);
        assertGe(n1, floor);
        assertLe(n1, ceiling);
        assertLe(n1, n2, "monotone in utilisation");
        if (u1 >= TARGET) assertGe(n1, fee, "demand at or above target: never down");
        else assertLe(n1, fee, "below target: never up");
        assertLe(n1, (fee * (BPS + STEP) + BPS - 1) / BPS, "at most one step up");
        uint256 down = fee * (BPS - STEP) / BPS;
        assertGe(n1, down < floor ? floor : down, "at most one step down");
    }
}
