// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/// @title Overflow escrow (seed interface, kept verbatim).
interface IEscrowBuffer {
    event Deposited(bytes32 indexed taskTypeId, address indexed source, uint256 amount);
    event Drained(bytes32 indexed taskTypeId, address indexed sink, uint256 amount);
    event BufferFull(bytes32 indexed taskTypeId, uint256 bufferLevel);

    function deposit(bytes32 taskTypeId, uint256 amount) external;
    function drain(bytes32 taskTypeId) external;
    function bufferLevel(bytes32 taskTypeId) external view returns (uint256);
    function bufferMax(bytes32 taskTypeId) external view returns (uint256);
}
