// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {CapacityMath} from "../../src/libraries/CapacityMath.sol";

/// @title External face of the internal CapacityMath library, for off-chain parity tests.
/// @notice test/chain/capacityMathParity.test.ts deploys this on anvil and compares every
/// function, over random and edge-case inputs, with the exact bigint forms in src/core
/// (SPEC section 3: the contracts and the allocation core must agree bit for bit).
/// @dev Only thin pass-throughs, no logic of its own; not deployed anywhere else.
contract CapacityMathHarness {
    function capacityCap(uint256 stakeAmount, uint256 minStake, uint256 stakeUnit) external pure returns (uint256) {
        return CapacityMath.capacityCap(stakeAmount, minStake, stakeUnit);
    }

    function ewma(uint256 prev, uint256 target, uint256 alphaBps) external pure returns (uint256) {
        return CapacityMath.ewma(prev, target, alphaBps);
    }

    function outsideDeadband(uint256 current, uint256 target, uint256 thresholdBps) external pure returns (bool) {
        return CapacityMath.outsideDeadband(current, target, thresholdBps);
    }

    function overflowUnits(uint256 sinkUnits, uint256 inflow, uint256 absorbable) external pure returns (uint256) {
        return CapacityMath.overflowUnits(sinkUnits, inflow, absorbable);
    }

    function remainderWorthFolding(uint256 remainder, uint256 totalUnits, uint256 distributed)
        external
        pure
        returns (bool)
    {
        return CapacityMath.remainderWorthFolding(remainder, totalUnits, distributed);
    }

    function queueWeight(uint256 capacity, uint256 backlog, uint256 premiumBps) external pure returns (uint256) {
        return CapacityMath.queueWeight(capacity, backlog, premiumBps);
    }

    function premiumMultiplierBps(uint256 capacity, uint256 backlog, uint256 premiumBps)
        external
        pure
        returns (uint256)
    {
        return CapacityMath.premiumMultiplierBps(capacity, backlog, premiumBps);
    }

    function baseFeeStep(
        uint256 fee,
        uint256 utilizationBps,
        uint256 targetBps,
        uint256 maxStepBps,
        uint256 floor,
        uint256 ceiling
    ) external pure returns (uint256) {
        return CapacityMath.baseFeeStep(fee, utilizationBps, targetBps, maxStepBps, floor, ceiling);
    }

    /// @notice The constants the TypeScript core duplicates.
    function constants()
        external
        pure
        returns (uint256 bps, uint256 overflowAll, uint256 remainderToleranceBps, uint256 maxPremiumRatio)
    {
        return (
            CapacityMath.BPS,
            CapacityMath.OVERFLOW_ALL,
            CapacityMath.REMAINDER_TOLERANCE_BPS,
            CapacityMath.MAX_PREMIUM_RATIO
        );
    }
}
