// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {IBackpressurePool} from "./IBackpressurePool.sol";

/// @title The BackpressurePool surface the other BPE contracts use.
interface IBackpressureHooks is IBackpressurePool {
    function createPool(bytes32 taskTypeId, ISuperToken token) external returns (ISuperfluidPool);
    function setSinkUnits(bytes32 taskTypeId, address sink, uint256 weight) external;
    function setCapacityLimit(bytes32 taskTypeId, uint256 limit) external;
    function updateOverflow(bytes32 taskTypeId) external;
    function inflowRate(bytes32 taskTypeId) external view returns (uint256);
    function absorbableRate(bytes32 taskTypeId) external view returns (uint256);
    function paidIn(bytes32 taskTypeId) external view returns (uint256);
}
