// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/// @title Sink staking (seed interface, kept verbatim).
interface IStakeManager {
    event Staked(address indexed sink, uint256 amount, uint256 totalStake);
    event Unstaked(address indexed sink, uint256 amount);
    event Slashed(address indexed sink, uint256 amount, bytes32 reason);

    function stake(uint256 amount) external;
    function unstake(uint256 amount) external;
    function slash(address sink, uint256 amount, bytes32 reason) external;
    function getCapacityCap(address sink) external view returns (uint256);
    function getStake(address sink) external view returns (uint256);
}
