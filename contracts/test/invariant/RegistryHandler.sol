// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";

/// @notice Drives the registry for its invariants: sinks register in up to three task types,
/// declare (commit + reveal), leave pending or stale commitments, deregister, top up stake, get
/// slashed; spammed reveals must fail with UpdateTooFrequent; time passes.
contract RegistryHandler is BPETest {
    address[4] public sinks;
    bytes32[3] public ids;
    uint256 public currentTime;
    uint256 public currentBlock;
    uint256 public violations;
    string public lastViolation;
    mapping(bytes32 => uint256) public calls;
    address internal lastSink; // the last successful declaration, for the spammer
    bytes32 internal lastId;

    constructor(Deployment memory d, bytes32[3] memory ids_) {
        _adopt(d);
        ids = ids_;
        uint96[4] memory stakes = [uint96(100e18), 400e18, 1_000e18, 2_500e18];
        for (uint256 i; i < 4; ++i) {
            sinks[i] = makeAddr(string.concat("registry-sink-", vm.toString(i)));
            _stake(sinks[i], stakes[i]);
            _register(sinks[i], ids[i % 3]);
        }
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

    /// @notice Declares, waiting out the rate limit and any pending commitment first.
    function declare(uint256 sinkSeed, uint256 typeSeed, uint256 capacity) external clock("declare") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (!s.registered) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) {
            vm.roll(c.blockNumber + COMMIT_TIMEOUT + 1); // let the pending one expire
        }
        if (s.lastUpdate != 0 && block.timestamp < s.lastUpdate + MIN_UPDATE_INTERVAL) {
            vm.warp(s.lastUpdate + MIN_UPDATE_INTERVAL);
        }
        _declare(sink, id, bound(capacity, 0, 80));
        lastSink = sink;
        lastId = id;
    }

    /// @notice Another reveal by the last declaring sink, inside its rate limit, must be refused.
    function spam(uint256 capacity) external clock("spam") {
        address sink = lastSink;
        bytes32 id = lastId;
        if (sink == address(0)) return;
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (!s.registered || s.lastUpdate == 0 || block.timestamp >= s.lastUpdate + MIN_UPDATE_INTERVAL) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) return;
        capacity = bound(capacity, 0, 80);
        uint256 smoothed = s.smoothed;
        bytes32 nonce = _commit(sink, id, capacity);
        vm.roll(block.number + 1);
        vm.prank(sink);
        try registry.revealCapacity(id, capacity, nonce) {
            _violation("reveal inside the rate limit succeeded");
        } catch (bytes memory err) {
            if (bytes4(err) != CapacityRegistry.UpdateTooFrequent.selector) _violation("spam: wrong error");
        }
        if (registry.getSmoothedCapacity(id, sink) != smoothed) _violation("spam moved the EWMA");
        ++calls["spam refused"];
    }

    /// @notice Leaves a commitment pending (it may expire unrevealed).
    function commitOnly(uint256 sinkSeed, uint256 typeSeed, uint256 capacity) external clock("commitOnly") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        if (!registry.sinkState(id, sink).registered) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) return;
        _commit(sink, id, bound(capacity, 0, 80));
    }

    function register(uint256 sinkSeed, uint256 typeSeed) external clock("register") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        if (registry.sinkState(id, sink).registered) return;
        if (stakeManager.getStake(sink) < MIN_SINK_STAKE) return;
        _register(sink, id);
        _connect(sink, id);
    }

    function deregister(uint256 sinkSeed, uint256 typeSeed) external clock("deregister") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        if (!registry.sinkState(id, sink).registered) return;
        _deregister(sink, id);
        if (_units(id, sink) != 0) _violation("units left after deregistration");
    }

    function topUp(uint256 sinkSeed, uint256 amount) external clock("topUp") {
        _stake(sinks[sinkSeed % 4], bound(amount, 1, 2_000e18));
    }

    function slash(uint256 sinkSeed, uint256 amount) external clock("slash") {
        address sink = sinks[sinkSeed % 4];
        uint256 stakeAmount = stakeManager.getStake(sink);
        if (stakeAmount == 0) return;
        vm.prank(slasher);
        stakeManager.slash(sink, bound(amount, 1, stakeAmount), "invariant");
    }

    function warp(uint256 secs) external clock("warp") {
        vm.warp(block.timestamp + bound(secs, 1, 1 hours));
        vm.roll(block.number + bound(secs, 1, 30));
    }

    function sinkCount() external pure returns (uint256) {
        return 4;
    }
}
