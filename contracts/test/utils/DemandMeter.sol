// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./BPETest.sol";

/// @notice An independent record of what a task type's pool paid out and of its weight over time,
/// kept by sampling the flow rate and total weight before and after every state change (time
/// passing and state changes never happen in one call, so the samples integrate exactly). Tests
/// check the contracts' own meters (`paidIn`, `weightSecondsOf`) and the base fee against it.
abstract contract DemandMeter is BPETest {
    uint256 internal meterAt;
    uint256 internal meterRate;
    uint256 internal meterWeight;
    uint256 public meteredPaid;
    uint256 public meteredWeightSeconds;

    /// @dev Integrates the last sampled flow and weight up to now, then samples them again.
    function _meter(bytes32 id) internal {
        uint256 dt = block.timestamp - meterAt;
        meteredPaid += meterRate * dt;
        meteredWeightSeconds += meterWeight * dt;
        meterAt = block.timestamp;
        int96 rate = _pool(id).getTotalFlowRate();
        meterRate = rate > 0 ? uint256(int256(rate)) : 0;
        meterWeight = registry.totalWeight(id);
    }
}
