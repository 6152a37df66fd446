// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {BPETest} from "./utils/BPETest.sol";
import {EscrowBuffer} from "../src/EscrowBuffer.sol";
import {IEscrowBuffer} from "../src/interfaces/IEscrowBuffer.sol";

/// @notice EscrowBuffer: deposits, the bufferMax bound and saturation signal, drains bounded
/// by spare capacity, remainder credits, views and every revert.
contract EscrowBufferTest is BPETest {
    using SuperTokenV1Library for ISuperToken;

    bytes32 internal id;
    address internal a;
    address internal b;
    address internal c;
    address internal src;
    uint256 internal constant MAX = 10e18;
    bytes32 internal constant BOGUS = keccak256("bogus");

    function setUp() public override {
        super.setUp();
        (id, a, b, c) = _market123("llm", MAX);
        src = _source("src", 1_000_000e18);
    }

    function _deposit(address from, bytes32 taskTypeId, uint256 amount) internal {
        vm.startPrank(from);
        token.approve(address(buffer), amount);
        buffer.deposit(taskTypeId, amount);
        vm.stopPrank();
    }

    function _depositExpectRevert(address from, bytes32 taskTypeId, uint256 amount, bytes memory err) internal {
        vm.startPrank(from);
        token.approve(address(buffer), amount);
        vm.expectRevert(err);
        buffer.deposit(taskTypeId, amount);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- deployment

    function test_constructor_parameters() public view {
        assertEq(address(buffer.registry()), address(registry));
        assertEq(address(buffer.backpressurePool()), address(bpPool));
        assertEq(buffer.drainWindow(), DRAIN_WINDOW);
    }

    // ---------------------------------------------------------------- deposit

    function test_deposit_holdsRealTokensAndEmits() public {
        vm.startPrank(src);
        token.approve(address(buffer), 3e18);
        vm.expectEmit(true, true, false, true, address(buffer));
        emit IEscrowBuffer.Deposited(id, src, 3e18);
        buffer.deposit(id, 3e18);
        vm.stopPrank();
        assertEq(token.balanceOf(address(buffer)), 3e18);
        assertEq(buffer.bufferLevel(id), 3e18);
        assertEq(buffer.depositedBy(id, src), 3e18);
        assertEq(buffer.ledgerOf(id).deposited, 3e18);
        assertEq(buffer.saturationBps(id), 3_000);
        assertFalse(buffer.isSaturated(id));
    }

    function test_deposit_reachingMaxEmitsBufferFull() public {
        _deposit(src, id, 4e18);
        vm.startPrank(src);
        token.approve(address(buffer), 6e18);
        vm.expectEmit(true, true, false, true, address(buffer));
        emit IEscrowBuffer.Deposited(id, src, 6e18);
        vm.expectEmit(true, false, false, true, address(buffer));
        emit IEscrowBuffer.BufferFull(id, MAX);
        buffer.deposit(id, 6e18);
        vm.stopPrank();
        assertTrue(buffer.isSaturated(id));
        assertEq(buffer.saturationBps(id), 10_000);
    }

    function test_deposit_refusedBeyondMax() public {
        _deposit(src, id, 7e18);
        uint256 balance = token.balanceOf(src);
        _depositExpectRevert(
            src, id, 3e18 + 1, abi.encodeWithSelector(EscrowBuffer.BufferCapacityExceeded.selector, 7e18, 3e18 + 1, MAX)
        );
        assertEq(buffer.bufferLevel(id), 7e18, "unchanged");
        assertEq(token.balanceOf(src), balance, "nothing taken");
        assertEq(buffer.depositedBy(id, src), 7e18);
    }

    function test_deposit_revertsOnZero() public {
        vm.prank(src);
        vm.expectRevert(EscrowBuffer.ZeroAmount.selector);
        buffer.deposit(id, 0);
    }

    function test_deposit_revertsOnUnknownType() public {
        _depositExpectRevert(src, BOGUS, 1e18, abi.encodeWithSelector(EscrowBuffer.UnknownTaskType.selector, BOGUS));
        assertEq(token.balanceOf(address(buffer)), 0);
    }

    function test_deposit_zeroMaxRefusesEverything() public {
        bytes32 noBuffer = _taskType("no buffer", 0);
        _depositExpectRevert(
            src, noBuffer, 1, abi.encodeWithSelector(EscrowBuffer.BufferCapacityExceeded.selector, 0, 1, 0)
        );
        assertEq(buffer.saturationBps(noBuffer), 0, "empty and zero max: not saturated");
        assertFalse(buffer.isSaturated(noBuffer));
    }

    /// @notice A task type without a buffer (bufferMax 0) signals saturation at its first wei of
    /// overflow, so sources pause as soon as the sinks cannot absorb their stream.
    function test_zeroMaxSaturatesOnFirstOverflow() public {
        bytes32 noBuffer = _taskType("no buffer", 0);
        address s = _sink("s", noBuffer, 400e18);
        _declareUntilSettled(s, noBuffer, 10);
        _stream(src, noBuffer, _rate(20));
        bpPool.updateOverflow(noBuffer);
        assertFalse(buffer.isSaturated(noBuffer), "nothing arrived yet");
        vm.warp(block.timestamp + 1);
        assertGt(buffer.bufferLevel(noBuffer), 0);
        assertTrue(buffer.isSaturated(noBuffer));
        assertEq(buffer.saturationBps(noBuffer), type(uint256).max);
    }

    // ---------------------------------------------------------------- drain

    function test_drain_paysSinksByCapacityBoundedBySpareRate() public {
        _deposit(src, id, 5e18);
        uint256 spareRate = bpPool.absorbableRate(id); // no inflow: everything is spare
        uint256 total = _pool(id).getTotalUnits();
        // First drain: the window is the whole drainWindow.
        uint256 expected = spareRate * DRAIN_WINDOW / total * total;
        vm.expectEmit(true, true, false, true, address(buffer));
        emit IEscrowBuffer.Drained(id, address(_pool(id)), expected);
        vm.prank(makeAddr("keeper")); // permissionless
        buffer.drain(id);
        assertEq(_received(id, a), expected / 6, "1 : 2 : 3 by capacity");
        assertEq(_received(id, b), 2 * expected / 6);
        assertEq(_received(id, c), 3 * expected / 6);
        assertEq(token.balanceOf(a), expected / 6, "connected sinks hold it at once");
        assertEq(buffer.bufferLevel(id), 5e18 - expected);
        assertEq(token.balanceOf(address(buffer)), 5e18 - expected);
        EscrowBuffer.Ledger memory l = buffer.ledgerOf(id);
        assertEq(l.drained, expected);
        assertEq(l.lastDrainAt, block.timestamp);

        // Immediately again: zero seconds of spare capacity.
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.DrainTooSmall.selector, 0));
        buffer.drain(id);

        // 40 s later: at most 40 s of spare rate.
        vm.warp(block.timestamp + 40);
        buffer.drain(id);
        uint256 second = buffer.ledgerOf(id).drained - expected;
        assertLe(second, spareRate * 40);
        assertGt(second, spareRate * 40 - total);

        // A long pause still drains at most one window.
        vm.warp(block.timestamp + 10 * DRAIN_WINDOW);
        uint256 before = buffer.ledgerOf(id).drained;
        buffer.drain(id);
        assertLe(buffer.ledgerOf(id).drained - before, spareRate * DRAIN_WINDOW);
    }

    /// @notice A drain goes through the pool, so it follows the queue-adjusted weights: a sink
    /// with a backlog gets less of it, and the spare rate is what the weights absorb.
    function test_drain_paysSinksByQueueAdjustedWeight() public {
        vm.prank(c);
        registry.reportBacklog(id, 30); // 900 / 60 = 15: weights 10 : 20 : 15
        assertEq(_units(id, c), 15 * UNIT_SCALE);
        _deposit(src, id, 5e18);
        uint256 spareRate = bpPool.absorbableRate(id);
        assertEq(spareRate, _rateOf(45), "what the weights absorb");
        uint256 total = _pool(id).getTotalUnits();
        assertEq(total, 45 * UNIT_SCALE);
        uint256 expected = spareRate * DRAIN_WINDOW / total * total;
        buffer.drain(id);
        assertEq(buffer.ledgerOf(id).drained, expected);
        assertEq(_received(id, a), expected * 10 / 45);
        assertEq(_received(id, b), expected * 20 / 45);
        assertEq(_received(id, c), expected * 15 / 45, "the backlogged sink gets its weight's share");
    }

    function test_drain_neverMoreThanTheLevel() public {
        _deposit(src, id, 1e15); // far below one window of spare capacity
        buffer.drain(id);
        uint256 drained = buffer.ledgerOf(id).drained;
        uint256 total = _pool(id).getTotalUnits();
        assertEq(drained, 1e15 / total * total, "the level, rounded to whole units");
        assertEq(buffer.bufferLevel(id), 1e15 - drained);
        assertLt(buffer.bufferLevel(id), total, "dust below one unit stays");
        vm.warp(block.timestamp + 100);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.DrainTooSmall.selector, 1e15 - drained));
        buffer.drain(id);
    }

    function test_drain_revertsWhenEmpty() public {
        vm.expectRevert(EscrowBuffer.BufferEmpty.selector);
        buffer.drain(id);
    }

    function test_drain_revertsWithoutSpareCapacity() public {
        _deposit(src, id, 1e18);
        // inflow above capacity: the buffer is a pool member, nothing to drain into
        _stream(src, id, _rate(120));
        uint256 inflow = bpPool.inflowRate(id);
        uint256 absorbable = bpPool.absorbableRate(id);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.NoSpareCapacity.selector, inflow, absorbable));
        buffer.drain(id);
        assertEq(buffer.ledgerOf(id).drained, 0);
    }

    function test_drain_revertsWhenExactlyFull() public {
        // inflow == absorbable: no overflow share, but no spare capacity either. A capacity
        // limit of 18 tasks/epoch makes the absorbable rate 6e13 = 60,000 units * 1e9 wei/s,
        // a rate the GDA distributes without rounding.
        vm.prank(address(pipeline));
        bpPool.setCapacityLimit(id, 18);
        uint256 rate = 60_000 * 1e9;
        assertEq(bpPool.absorbableRate(id), rate);
        _stream(src, id, int96(int256(rate)));
        _deposit(src, id, 1e18);
        assertEq(bpPool.inflowRate(id), rate);
        assertEq(_units(id, address(buffer)), 0, "no overflow share");
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.NoSpareCapacity.selector, rate, rate));
        buffer.drain(id);
    }

    function test_drain_revertsOnUnknownType() public {
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.UnknownTaskType.selector, BOGUS));
        buffer.drain(BOGUS);
    }

    function test_drain_claimsOverflowFirst() public {
        // overflow accrues as the buffer's claimable in the pool, then a drain claims it
        _stream(src, id, _rate(120));
        bpPool.updateOverflow(id);
        vm.warp(block.timestamp + 100);
        uint256 overflow = _received(id, address(buffer));
        assertGt(overflow, 0);
        assertEq(_claimable(id, address(buffer)), overflow, "not connected: waits in the pool");
        assertEq(buffer.bufferLevel(id), overflow, "level counts it without any claim");
        _stream(src, id, _rate(30));
        vm.warp(block.timestamp + 10);
        uint256 level = buffer.bufferLevel(id);
        buffer.drain(id);
        assertEq(_claimable(id, address(buffer)), 0, "claimed");
        uint256 drained = buffer.ledgerOf(id).drained;
        assertEq(token.balanceOf(address(buffer)), level - drained, "claimed minus drained");
        assertEq(buffer.bufferLevel(id), level - drained);
    }

    // ---------------------------------------------------------------- payments handed back

    /// @notice A sink hands back pay it cannot earn: the tokens join the task type's buffer, booked
    /// per sink (the CompletionTracker reads returnedBy) and in the ledger, and the level rises.
    function test_returnPayment_joinsTheBufferAndIsBooked() public {
        _stream(src, id, _rate(30));
        vm.warp(block.timestamp + 600);
        uint256 held = token.balanceOf(a);
        assertGt(held, 1e15, "a was paid");
        uint256 amount = held / 2;
        uint256 levelBefore = buffer.bufferLevel(id);
        vm.startPrank(a);
        token.approve(address(buffer), amount);
        vm.expectEmit(true, true, false, true, address(buffer));
        emit EscrowBuffer.PaymentReturned(id, a, amount);
        buffer.returnPayment(id, amount);
        vm.stopPrank();
        assertEq(token.balanceOf(a), held - amount);
        assertEq(buffer.returnedBy(id, a), amount);
        assertEq(buffer.returnedBy(id, b), 0, "per sink");
        assertEq(buffer.ledgerOf(id).returned, amount);
        assertEq(buffer.ledgerOf(id).deposited, 0, "not a deposit: it buys the source no credit");
        assertEq(buffer.bufferLevel(id), levelBefore + amount);
        assertEq(token.balanceOf(address(buffer)), amount);
        // and it drains back to the sinks like any buffered money (no inflow now: all spare)
        _stream(src, id, 0);
        buffer.drain(id);
        assertGt(buffer.ledgerOf(id).drained, 0);
        assertEq(buffer.bufferLevel(id), levelBefore + amount - buffer.ledgerOf(id).drained);
    }

    /// @notice Giving money back is never refused for a full buffer (unlike a deposit).
    function test_returnPayment_acceptedAboveBufferMax() public {
        _deposit(src, id, MAX);
        assertTrue(buffer.isSaturated(id));
        _stream(src, id, _rate(30));
        vm.warp(block.timestamp + 600);
        vm.startPrank(c);
        token.approve(address(buffer), 1e15);
        buffer.returnPayment(id, 1e15);
        vm.stopPrank();
        assertEq(buffer.bufferLevel(id), MAX + 1e15, "above bufferMax");
        assertEq(buffer.returnedBy(id, c), 1e15);
    }

    function test_returnPayment_reverts() public {
        vm.prank(a);
        vm.expectRevert(EscrowBuffer.ZeroAmount.selector);
        buffer.returnPayment(id, 0);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.UnknownTaskType.selector, BOGUS));
        buffer.returnPayment(BOGUS, 1);
        vm.prank(a);
        vm.expectRevert(); // no allowance: the token's own error
        buffer.returnPayment(id, 1);
        assertEq(buffer.returnedBy(id, a), 0);
        assertEq(buffer.ledgerOf(id).returned, 0);
    }

    // ---------------------------------------------------------------- remainder credits

    function test_creditRemainder_onlyBackpressurePool() public {
        vm.prank(src);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.NotBackpressurePool.selector, src));
        buffer.creditRemainder(id, 1e18);
        assertEq(buffer.ledgerOf(id).credited, 0);
        assertEq(buffer.bufferLevel(id), 0);
    }

    // ---------------------------------------------------------------- saturation

    function test_pokeSaturation() public {
        vm.recordLogs();
        assertFalse(buffer.pokeSaturation(id));
        assertEq(vm.getRecordedLogs().length, 0, "no event while not saturated");
        // overflow streams in until the level passes bufferMax
        _stream(src, id, _rate(120));
        bpPool.updateOverflow(id);
        uint256 overflowRate = _memberRate(id, address(buffer));
        vm.warp(block.timestamp + 2 * MAX / overflowRate);
        uint256 level = buffer.bufferLevel(id);
        assertGt(level, MAX);
        vm.expectEmit(true, false, false, true, address(buffer));
        emit IEscrowBuffer.BufferFull(id, level);
        assertTrue(buffer.pokeSaturation(id));
        assertGt(buffer.saturationBps(id), 19_000, "a stream can overshoot until its source pauses");
    }

    // ---------------------------------------------------------------- views

    function test_views() public view {
        assertEq(buffer.bufferMax(id), MAX);
        assertEq(buffer.bufferMax(BOGUS), 0);
        assertEq(buffer.bufferLevel(BOGUS), 0);
        assertEq(buffer.saturationBps(BOGUS), 0);
        assertFalse(buffer.isSaturated(BOGUS));
        assertEq(buffer.depositedBy(id, src), 0);
        EscrowBuffer.Ledger memory l = buffer.ledgerOf(id);
        assertEq(l.deposited + l.credited + l.drained + l.lastDrainAt, 0);
    }
}
