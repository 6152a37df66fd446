// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ICapacitySignal} from "./ICapacitySignal.sol";

/// @title What the other BPE contracts read from (and tell) the capacity registry.
interface ICapacityRegistry is ICapacitySignal {
    struct TaskType {
        address creator;
        uint32 sinkCount;
        uint32 stakeUnitsPerTask; // stake units that back one task/epoch of capacity (and its penalty)
        ISuperToken token;
        uint96 pricePerTask; // creation price, token wei per task; the PricingCurve moves from it
        uint256 bufferMax; // token wei the escrow buffer may hold for this task type
        uint64 totalCapacity; // sum of the registered sinks' smoothed capacities (tasks/epoch)
        uint64 totalWeight; // sum of their queue-adjusted capacities (what the pool routes by)
        uint32 weightUpdatedAt; // when totalWeight last changed
        uint96 weightSeconds; // integral of totalWeight over time, wrapping (use differences)
    }

    /// @notice Outcome of one attestation, as the OffchainAggregator reports it.
    enum Rejection {
        None,
        Stale,
        FromTheFuture,
        BadSignature,
        NotRegistered,
        NonceNotIncreasing,
        TooFrequent,
        OutOfRange
    }

    function taskType(bytes32 taskTypeId) external view returns (TaskType memory);
    function exists(bytes32 taskTypeId) external view returns (bool);
    function isRegistered(bytes32 taskTypeId, address sink) external view returns (bool);
    function totalCapacity(bytes32 taskTypeId) external view returns (uint256);
    function totalWeight(bytes32 taskTypeId) external view returns (uint256);
    function pricePerTask(bytes32 taskTypeId) external view returns (uint256);
    function sinksOf(bytes32 taskTypeId) external view returns (address[] memory);
    function signalOf(bytes32 taskTypeId, address sink) external view returns (uint256 capacity, uint256 backlog);
    function weightOf(bytes32 taskTypeId, address sink) external view returns (uint256);
    function queuePremiumBps() external view returns (uint256);
    function weightSecondsOf(bytes32 taskTypeId) external view returns (uint96);
    function rebalanceThresholdBps() external view returns (uint256);

    /// @notice Called by the StakeManager after a sink's stake fell (slash): re-applies the cap.
    function onStakeChanged(address sink) external;

    /// @notice Called by the OffchainAggregator with the attestations of one task type whose
    /// signatures it verified: `records` packs one 40-byte record per attestation, big-endian,
    /// `sink (20) | capacity (8) | backlog (8) | nonce (4)`. Never reverts for anything about an
    /// item; `outcomes` holds one byte per record, its Rejection (None: applied), and `applied`
    /// counts the applied ones.
    function applyAttestations(bytes32 taskTypeId, bytes calldata records)
        external
        returns (uint256 applied, bytes memory outcomes);

    /// @notice Called by the BackpressurePool's rebalance: up to `count` sinks from `start` and their
    /// current weights, all recorded as pushed to the pool, and how many sinks there are.
    function takeWeights(bytes32 taskTypeId, uint256 start, uint256 count)
        external
        returns (address[] memory sinks, uint256[] memory weights, uint256 total);
}
