// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";

/// @notice End to end on the real GDA: capacity-proportional routing, overflow, drain.
contract FlowEndToEndTest is BPETest {
    bytes32 internal id;
    address internal a;
    address internal b;
    address internal c;
    address internal src;

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 1_000e18);
        a = _sink("a", id, 400e18); // cap 20
        b = _sink("b", id, 900e18); // cap 30
        c = _sink("c", id, 1600e18); // cap 40
        _declareUntilSettled(a, id, 10);
        _declareUntilSettled(b, id, 20);
        _declareUntilSettled(c, id, 30);
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
}
