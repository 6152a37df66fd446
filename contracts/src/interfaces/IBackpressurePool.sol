// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/// @title Capacity-weighted GDA pools (seed interface, kept verbatim).
interface IBackpressurePool {
    event Rebalanced(bytes32 indexed taskTypeId, uint256 sinkCount, uint256 totalCapacity);

    function rebalance(bytes32 taskTypeId) external;
    function needsRebalance(bytes32 taskTypeId) external view returns (bool);
    function getPool(bytes32 taskTypeId) external view returns (address);
}
