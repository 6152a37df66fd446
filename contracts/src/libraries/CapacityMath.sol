// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title The mechanism's integer math, shared by every BPE contract.
/// @notice Mirrors src/core of the TypeScript package bit for bit, so the keeper and the SDK
/// predict exactly what the chain will do.
library CapacityMath {
    uint256 internal constant BPS = 10_000;

    /// @notice Overflow units when the sinks can absorb nothing: the buffer takes all but
    /// 1 / (1 + OVERFLOW_ALL) of the inflow (sink units cannot be zeroed in O(1)).
    uint256 internal constant OVERFLOW_ALL = 1_000_000;

    /// @notice Capacity cap of a stake, in stake units: stake / stakeUnit, zero below the minimum
    /// stake. Each task type converts units into capacity at its own stakeUnitsPerTask.
    /// @dev Linear in stake, so splitting a stake over n identities gains nothing (and costs the
    /// minimum stake n times). The seeds' sqrt(stake / stakeUnit) rewarded splitting: n identities
    /// got sqrt(n) times the capacity, and it bound honest sinks below their real capacity.
    function capacityCap(uint256 stakeAmount, uint256 minStake, uint256 stakeUnit) internal pure returns (uint256) {
        if (stakeAmount < minStake) return 0;
        return stakeAmount / stakeUnit;
    }

    /// @notice One EWMA step `alpha * target + (1 - alpha) * prev`, in basis points.
    /// @dev Rounds towards the target (up when rising, down when falling): every step moves at
    /// least one unit while prev != target, so integer rounding never stalls short of the
    /// target, and never overshoots it.
    function ewma(uint256 prev, uint256 target, uint256 alphaBps) internal pure returns (uint256) {
        if (target == prev) return prev;
        uint256 weighted = alphaBps * target + (BPS - alphaBps) * prev;
        return target > prev ? Math.ceilDiv(weighted, BPS) : weighted / BPS;
    }

    /// @notice Whether `current` differs from `target` by more than the deadband.
    /// @dev Changes to or from zero always pass: a sink that leaves must lose its units, and a new
    /// sink must get some.
    function outsideDeadband(uint256 current, uint256 target, uint256 thresholdBps) internal pure returns (bool) {
        if (current == target) return false;
        if (current == 0 || target == 0) return true;
        uint256 diff = current > target ? current - target : target - current;
        return diff * BPS > thresholdBps * current;
    }

    /// @notice GDA rounding remainder (wei/s) tolerated before it is folded back into the
    /// distribution: 0.1 % of the inflow.
    uint256 internal constant REMAINDER_TOLERANCE_BPS = 10;

    /// @notice Whether the GDA's rounding remainder should be re-distributed: it must be at least
    /// one unit's worth (otherwise re-distributing changes nothing) and more than
    /// REMAINDER_TOLERANCE_BPS of the pool's whole inflow (distributed + remainder).
    function remainderWorthFolding(uint256 remainder, uint256 totalUnits, uint256 distributed)
        internal
        pure
        returns (bool)
    {
        if (totalUnits == 0 || remainder < totalUnits) return false;
        return remainder * BPS > REMAINDER_TOLERANCE_BPS * (distributed + remainder);
    }

    /// @notice Pool units for the buffer so that the sinks together receive exactly what they
    /// can absorb and the buffer the rest.
    /// @dev With sink units U, buffer units B and inflow R, the sinks get R * U / (U + B);
    /// setting that to the absorbable rate A gives B = U * (R - A) / A. Rounded up, so sinks
    /// are never overpaid by rounding.
    function overflowUnits(uint256 sinkUnits, uint256 inflow, uint256 absorbable) internal pure returns (uint256) {
        if (inflow <= absorbable) return 0;
        if (sinkUnits == 0) return 1;
        if (absorbable == 0) return sinkUnits * OVERFLOW_ALL;
        return Math.mulDiv(sinkUnits, inflow - absorbable, absorbable, Math.Rounding.Ceil);
    }

    /// @notice Capacity weight of a sink after its queue premium: C / (1 + gamma * backlog / C),
    /// i.e. how many tasks it absorbs at the base fee when its own price is base * (1 + gamma * q / C).
    /// @dev A backlog makes a sink dearer, so the pool sends it less: backpressure in price form.
    /// Equals C without backlog; falls towards 0 as the backlog grows; 0 without capacity.
    function queueWeight(uint256 capacity, uint256 backlog, uint256 premiumBps) internal pure returns (uint256) {
        if (backlog == 0 || capacity == 0) return capacity;
        return Math.mulDiv(capacity * capacity, BPS, capacity * BPS + premiumBps * backlog);
    }

    /// @notice Price multiplier (bps) of a sink's queue premium: 1 + gamma * backlog / capacity,
    /// capped at MAX_PREMIUM_RATIO backlogs per unit of capacity (and at that cap without capacity).
    function premiumMultiplierBps(uint256 capacity, uint256 backlog, uint256 premiumBps) internal pure returns (uint256) {
        uint256 ratioBps = capacity == 0
            ? (backlog == 0 ? 0 : MAX_PREMIUM_RATIO * BPS)
            : Math.min(Math.mulDiv(backlog, BPS, capacity), MAX_PREMIUM_RATIO * BPS);
        return BPS + Math.mulDiv(premiumBps, ratioBps, BPS);
    }

    /// @notice Largest backlog-to-capacity ratio the queue premium prices in.
    uint256 internal constant MAX_PREMIUM_RATIO = 100;

    /// @notice One EIP-1559-style base fee step towards a target utilisation.
    /// @dev fee * (1 + maxStep * (u - target) / target), the relative step clamped to +-maxStep,
    /// the result to [floor, ceiling]. Utilisation u = demanded / capacity (bps); with no capacity,
    /// any demand counts as the maximum up-step and no demand as the maximum down-step. Both the
    /// step (in bps) and the new fee round away from the current fee, so any utilisation off the
    /// target moves the fee by at least 1 bps and 1 wei (as EIP-1559's minimum increase): rounding
    /// the up-step down would freeze the fee while demand sits just above the target
    /// (u - target < target / maxStep, e.g. 80.00-80.06 % for an 80 % target and a 12.5 % step).
    function baseFeeStep(
        uint256 fee,
        uint256 utilizationBps,
        uint256 targetBps,
        uint256 maxStepBps,
        uint256 floor,
        uint256 ceiling
    ) internal pure returns (uint256) {
        uint256 next;
        if (utilizationBps >= targetBps) {
            uint256 up = Math.min(
                Math.mulDiv(maxStepBps, utilizationBps - targetBps, targetBps, Math.Rounding.Ceil), maxStepBps
            );
            next = Math.mulDiv(fee, BPS + up, BPS, Math.Rounding.Ceil);
        } else {
            uint256 down = Math.mulDiv(maxStepBps, targetBps - utilizationBps, targetBps, Math.Rounding.Ceil);
            next = Math.mulDiv(fee, BPS - down, BPS);
        }
        return next < floor ? floor : next > ceiling ? ceiling : next;
    }
}
