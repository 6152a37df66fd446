// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";

/// @notice What every invariant handler shares: a clock that survives between the fuzzer's calls
/// (forge resets block.timestamp and block.number to the test's values before each call), call
/// counters to show what the run reached, and a record of invariant violations seen inside calls.
abstract contract Handler is BPETest {
    uint256 public currentTime;
    uint256 public currentBlock;
    uint256 public violations;
    string public lastViolation;
    mapping(bytes32 => uint256) public calls;

    function _startClock() internal {
        currentTime = block.timestamp;
        currentBlock = block.number;
    }

    modifier clock(bytes32 name) {
        vm.warp(currentTime);
        vm.roll(currentBlock);
        ++calls[name];
        _;
        currentTime = block.timestamp;
        currentBlock = block.number;
    }

    function _violation(string memory what) internal {
        ++violations;
        lastViolation = what;
    }
}
