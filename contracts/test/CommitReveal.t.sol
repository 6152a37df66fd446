// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {ICapacitySignal} from "../src/interfaces/ICapacitySignal.sol";

/// @notice Commit-reveal of capacity: binding, timing windows, replacement, every revert.
contract CommitRevealTest is BPETest {
    bytes32 internal id;
    address internal sink;
    bytes32 internal constant NONCE = keccak256("nonce");

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 0);
        sink = _sink("sink", id, 400e18);
    }

    function _hash(uint256 capacity) internal view returns (bytes32) {
        return registry.commitmentHash(sink, id, capacity, NONCE);
    }

    function _commitAs(address who, bytes32 h) internal {
        vm.prank(who);
        registry.commitCapacity(id, h);
    }

    // ---------------------------------------------------------------- commitmentHash

    function test_commitmentHash_bindsSenderTypeCapacityNonce() public view {
        bytes32 h = registry.commitmentHash(sink, id, 10, NONCE);
        assertEq(h, keccak256(abi.encode(sink, id, uint256(10), NONCE)));
        assertTrue(h != registry.commitmentHash(address(1), id, 10, NONCE), "sender");
        assertTrue(h != registry.commitmentHash(sink, bytes32(uint256(1)), 10, NONCE), "task type");
        assertTrue(h != registry.commitmentHash(sink, id, 11, NONCE), "capacity");
        assertTrue(h != registry.commitmentHash(sink, id, 10, bytes32(0)), "nonce");
    }

    // ---------------------------------------------------------------- commit

    function test_commit_storesAndEmits() public {
        bytes32 h = _hash(10);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityCommitted(id, sink, h);
        _commitAs(sink, h);
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        assertEq(c.hash, h);
        assertEq(c.blockNumber, block.number);
    }

    function test_commit_revertsOnUnknownType() public {
        bytes32 bogus = keccak256("bogus");
        bytes32 h = _hash(10);
        vm.prank(sink);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, bogus));
        registry.commitCapacity(bogus, h);
    }

    function test_commit_revertsWhenNotRegistered() public {
        address stranger = makeAddr("stranger");
        bytes32 h = _hash(10);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, stranger));
        registry.commitCapacity(id, h);
        assertEq(registry.commitmentOf(id, stranger).hash, bytes32(0));
    }

    function test_commit_revertsOnZeroHash() public {
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.ZeroCommitment.selector);
        registry.commitCapacity(id, bytes32(0));
    }

    function test_commit_pendingCannotBeReplaced() public {
        bytes32 h = _hash(10);
        _commitAs(sink, h);
        uint256 expiresAt = block.number + COMMIT_TIMEOUT;
        bytes32 other = _hash(30);
        vm.prank(sink);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.CommitmentPending.selector, expiresAt));
        registry.commitCapacity(id, other);
        vm.roll(expiresAt); // last block of the window: still pending
        vm.prank(sink);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.CommitmentPending.selector, expiresAt));
        registry.commitCapacity(id, other);
        assertEq(registry.commitmentOf(id, sink).hash, h, "unchanged");
    }

    function test_commit_expiredCanBeReplaced() public {
        _commitAs(sink, _hash(10));
        vm.roll(block.number + COMMIT_TIMEOUT + 1);
        bytes32 other = _hash(30);
        _commitAs(sink, other);
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        assertEq(c.hash, other);
        assertEq(c.blockNumber, block.number);
        vm.roll(block.number + 1);
        // the replacement was revealed (capped at the allowance of 20)
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, sink, 20, 6);
        vm.prank(sink);
        registry.revealCapacity(id, 30, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 6);
    }

    function test_commit_againAfterReveal() public {
        _commitAs(sink, _hash(10));
        vm.roll(block.number + 1);
        vm.prank(sink);
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.commitmentOf(id, sink).hash, bytes32(0), "consumed");
        _commitAs(sink, _hash(12)); // no CommitmentPending: the old one is gone
        assertEq(registry.commitmentOf(id, sink).hash, _hash(12));
    }

    // ---------------------------------------------------------------- reveal

    function test_reveal_nextBlockAndLastBlockAccepted() public {
        _commitAs(sink, _hash(10));
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, sink, 10, 3);
        vm.prank(sink);
        registry.revealCapacity(id, 10, NONCE);

        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _commitAs(sink, _hash(10));
        vm.roll(block.number + COMMIT_TIMEOUT);
        vm.prank(sink);
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 6);
    }

    function test_reveal_revertsWithoutCommitment() public {
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.NoCommitment.selector);
        registry.revealCapacity(id, 10, NONCE);
    }

    function test_reveal_revertsOnceConsumed() public {
        _commitAs(sink, _hash(10));
        vm.roll(block.number + 1);
        vm.prank(sink);
        registry.revealCapacity(id, 10, NONCE);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.NoCommitment.selector);
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 3, "one step only");
    }

    function test_reveal_revertsInTheSameBlock() public {
        _commitAs(sink, _hash(10));
        vm.prank(sink);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.RevealTooEarly.selector, block.number + 1));
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 0);
        assertEq(registry.commitmentOf(id, sink).hash, _hash(10), "commitment kept");
    }

    function test_reveal_revertsAfterTimeout() public {
        _commitAs(sink, _hash(10));
        uint256 committedAt = block.number;
        vm.roll(committedAt + COMMIT_TIMEOUT + 1);
        vm.prank(sink);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.CommitmentExpired.selector, committedAt + COMMIT_TIMEOUT)
        );
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 0);
    }

    function test_reveal_revertsOnWrongValues() public {
        _commitAs(sink, _hash(10));
        vm.roll(block.number + 1);
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.CommitmentMismatch.selector);
        registry.revealCapacity(id, 11, NONCE);
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.CommitmentMismatch.selector);
        registry.revealCapacity(id, 10, bytes32(uint256(NONCE) + 1));
        assertEq(registry.getSmoothedCapacity(id, sink), 0);
        vm.prank(sink);
        registry.revealCapacity(id, 10, NONCE);
        assertEq(registry.getSmoothedCapacity(id, sink), 3, "the right values still work");
    }

    function test_reveal_boundToTaskType() public {
        bytes32 id2 = _taskType("other", 0);
        vm.prank(sink);
        registry.setAllowance(id, 10); // leave cap for the second registration
        _register(sink, id2);
        // a hash made for `id` committed under `id2` cannot be revealed there
        bytes32 hForId = _hash(10);
        vm.prank(sink);
        registry.commitCapacity(id2, hForId);
        vm.roll(block.number + 1);
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.CommitmentMismatch.selector);
        registry.revealCapacity(id2, 10, NONCE);
        // and nothing was committed for `id`
        vm.prank(sink);
        vm.expectRevert(CapacityRegistry.NoCommitment.selector);
        registry.revealCapacity(id, 10, NONCE);
    }
}
