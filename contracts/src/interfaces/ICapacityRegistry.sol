// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ICapacitySignal} from "./ICapacitySignal.sol";

/// @title What the other BPE contracts read from (and tell) the capacity registry.
interface ICapacityRegistry is ICapacitySignal {
    struct TaskType {
        address creator;
        ISuperToken token;
        uint256 pricePerTask; // token wei per task; turns capacity (tasks/epoch) into a payment rate
        uint256 bufferMax; // token wei the escrow buffer may hold for this task type
        uint256 totalCapacity; // sum of the registered sinks' smoothed capacities
        uint32 sinkCount;
    }

    function taskType(bytes32 taskTypeId) external view returns (TaskType memory);
    function exists(bytes32 taskTypeId) external view returns (bool);
    function totalCapacity(bytes32 taskTypeId) external view returns (uint256);
    function pricePerTask(bytes32 taskTypeId) external view returns (uint256);
    function sinksOf(bytes32 taskTypeId) external view returns (address[] memory);

    /// @notice Called by the StakeManager after a sink's stake fell (slash): re-applies the cap.
    function onStakeChanged(address sink) external;
}
