// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {EscrowBuffer} from "../src/EscrowBuffer.sol";
import {IEscrowBuffer} from "../src/interfaces/IEscrowBuffer.sol";

/// @notice End to end on the real GDA: capacity-proportional routing, overflow, drain.
contract FlowEndToEndTest is BPETest {
    bytes32 internal id;
    address internal a;
    address internal b;
    address internal c;
    address internal src;

    function setUp() public override {
        super.setUp();
        (id, a, b, c) = _market123("llm", 1_000e18);
        src = _source("src", 1_000_000e18);
    }

    function test_streamSplitsByCapacity() public {
        // 60 tasks/epoch absorbable; stream half of it.
        int96 rate = int96(int256(_rateOf(30)));
        _stream(src, id, rate);
        uint256 t0 = block.timestamp;
        vm.warp(t0 + 1 hours);
        uint256 ra = _received(id, a);
        uint256 rb = _received(id, b);
        uint256 rc = _received(id, c);
        assertGt(ra, 0);
        assertEq(rb, 2 * ra, "b gets twice a");
        assertEq(rc, 3 * ra, "c gets three times a");
        assertEq(_received(id, address(buffer)), 0, "no overflow below capacity");
    }

    function test_overflowGoesToBufferAndDrainsBack() public {
        // Twice what the sinks absorb: half of it must go to the buffer.
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(2 * absorbable)));
        bpPool.updateOverflow(id);
        vm.warp(block.timestamp + 100);
        uint256 toSinks = _received(id, a) + _received(id, b) + _received(id, c);
        uint256 toBuffer = _received(id, address(buffer));
        assertApproxEqRel(toSinks, absorbable * 100, 1e14, "sinks get what they absorb");
        assertApproxEqRel(toBuffer, absorbable * 100, 1e14, "buffer gets the rest");
        assertEq(buffer.bufferLevel(id), toBuffer);

        // Demand drops to a third: spare capacity appears and the buffer drains into it.
        _stream(src, id, int96(int256(absorbable / 3)));
        uint256 levelBefore = buffer.bufferLevel(id);
        vm.warp(block.timestamp + 60);
        uint256 aBefore = _received(id, a);
        buffer.drain(id);
        assertLt(buffer.bufferLevel(id), levelBefore, "buffer drained");
        assertGt(_received(id, a), aBefore);
    }

    /// @notice A sink that fills up declares less; at its next update (the reveal) its units, and
    /// with them its share of the stream, drop in that same transaction; the others gain.
    function test_fillingSinkLosesShareAtNextUpdate() public {
        _stream(src, id, _rate(30));
        uint256 rateA = _memberRate(id, a);
        uint256 rateC = _memberRate(id, c);
        assertEq(rateC, 3 * rateA);
        vm.warp(block.timestamp + 600);

        _declare(c, id, 0); // full: one EWMA step, 30 -> 21
        assertEq(registry.getSmoothedCapacity(id, c), 21);
        assertEq(_units(id, c), 21 * UNIT_SCALE);
        // shares now 10 : 20 : 21 of 51
        assertLt(_memberRate(id, c), rateC, "c loses share at once");
        assertGt(_memberRate(id, a), rateA, "the others gain it");
        assertApproxEqAbs(_memberRate(id, c) * 10, _memberRate(id, a) * 21, 21 * UNIT_SCALE * 10);

        uint256 ra = _received(id, a);
        uint256 rc = _received(id, c);
        vm.warp(block.timestamp + 600);
        assertApproxEqRel((_received(id, c) - rc) * 10, (_received(id, a) - ra) * 21, 1e12, "10 : 21 from now on");
        // and the next steps keep shrinking it while c stays full
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(c, id, 0);
        assertEq(registry.getSmoothedCapacity(id, c), 14);
        assertEq(_units(id, c), 14 * UNIT_SCALE);
    }

    /// @notice All sinks full: the excess accumulates in the buffer until bufferMax, where the
    /// saturation signal turns on, BufferFull is emitted and direct deposits are refused; a source
    /// that obeys the signal pauses and the level stops growing.
    function test_allFullSaturatesTheBuffer() public {
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(3 * absorbable))); // two thirds cannot be absorbed
        bpPool.updateOverflow(id);
        uint256 overflowRate = _memberRate(id, address(buffer));
        assertApproxEqRel(overflowRate, 2 * absorbable, 1e12);
        assertFalse(buffer.isSaturated(id));
        assertEq(buffer.saturationBps(id), 0);

        uint256 max = buffer.bufferMax(id);
        vm.warp(block.timestamp + max / overflowRate / 2);
        assertApproxEqAbs(buffer.saturationBps(id), 5_000, 1, "half full");
        assertFalse(buffer.isSaturated(id));

        vm.warp(block.timestamp + max / overflowRate / 2 + 2);
        uint256 level = buffer.bufferLevel(id);
        assertGe(level, max);
        assertTrue(buffer.isSaturated(id), "the signal sources obey");
        assertGe(buffer.saturationBps(id), 10_000);
        vm.expectEmit(true, false, false, true, address(buffer));
        emit IEscrowBuffer.BufferFull(id, level);
        buffer.pokeSaturation(id);

        // no direct deposit fits any more
        vm.startPrank(src);
        token.approve(address(buffer), 1);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.BufferCapacityExceeded.selector, level, 1, max));
        buffer.deposit(id, 1);
        vm.stopPrank();

        // the source obeys: it pauses, and the buffer stops filling
        _stream(src, id, 0);
        bpPool.updateOverflow(id);
        uint256 paused = buffer.bufferLevel(id);
        vm.warp(block.timestamp + 1 hours);
        assertEq(buffer.bufferLevel(id), paused, "no more overflow");
    }

    /// @notice Capacity returns: the buffer drains into the pool, split by capacity, each drain
    /// bounded by spare rate * elapsed time (at most drainWindow), until it is empty but dust.
    function test_capacityReturnsBufferDrainsInProportion() public {
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(2 * absorbable)));
        bpPool.updateOverflow(id);
        vm.warp(block.timestamp + 1 hours);
        uint256 stored = buffer.bufferLevel(id);
        assertApproxEqRel(stored, absorbable * 1 hours, 1e12);

        // demand falls to a quarter: three quarters of the capacity are spare
        _stream(src, id, int96(int256(absorbable / 4)));
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 0);
        uint256 spare = absorbable - bpPool.inflowRate(id);
        uint256 drainedTotal;
        uint256 rounds;
        for (uint256 gap = DRAIN_WINDOW; buffer.bufferLevel(id) >= _pool(id).getTotalUnits(); gap = 120) {
            uint256 ra = _received(id, a);
            uint256 rb = _received(id, b);
            uint256 rc = _received(id, c);
            uint256 level = buffer.bufferLevel(id);
            buffer.drain(id);
            uint256 drained = level - buffer.bufferLevel(id);
            uint256 window = gap < DRAIN_WINDOW ? gap : DRAIN_WINDOW;
            assertLe(drained, spare * window, "bounded by spare rate * elapsed");
            // the drain is instant: in this block the sinks' gains are exactly the drained amount
            assertEq(_received(id, a) - ra + _received(id, b) - rb + _received(id, c) - rc, drained);
            assertEq((_received(id, b) - rb), 2 * (_received(id, a) - ra), "by capacity");
            assertEq((_received(id, c) - rc), 3 * (_received(id, a) - ra), "by capacity");
            drainedTotal += drained;
            ++rounds;
            vm.warp(block.timestamp + 120);
        }
        assertGt(rounds, 5, "took several windows: no flood");
        assertLt(buffer.bufferLevel(id), _pool(id).getTotalUnits(), "empty but dust below one unit");
        assertEq(buffer.ledgerOf(id).drained, drainedTotal);
        uint256 dust = buffer.bufferLevel(id);
        if (dust == 0) vm.expectRevert(EscrowBuffer.BufferEmpty.selector);
        else vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.DrainTooSmall.selector, dust));
        buffer.drain(id);
    }
}
