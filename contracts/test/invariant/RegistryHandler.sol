// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Handler} from "./Handler.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";
import {ICapacityRegistry} from "../../src/interfaces/ICapacityRegistry.sol";
import {CapacityMath} from "../../src/libraries/CapacityMath.sol";

/// @notice Drives the registry for its invariants: sinks register in up to three task types,
/// declare (commit + reveal, or an attestation as the aggregator relays it), report backlogs,
/// move allowances, leave pending or stale commitments, deregister, top up stake, get slashed;
/// keepers rebalance; spammed reveals must fail with UpdateTooFrequent, allowances over the cap
/// with AllowanceExceedsCap, and attestations report the right rejection; time passes.
contract RegistryHandler is Handler {
    address[4] public sinks;
    bytes32[3] public ids;
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
        _startClock();
    }

    /// @notice Declares, waiting out the rate limit and any pending commitment first.
    function declare(uint256 sinkSeed, uint256 typeSeed, uint256 capacity) external clock("declare") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (s.index == 0) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) {
            vm.roll(c.blockNumber + COMMIT_TIMEOUT + 1); // let the pending one expire
        }
        if (s.lastUpdate != 0 && block.timestamp < s.lastUpdate + MIN_UPDATE_INTERVAL) {
            vm.warp(s.lastUpdate + MIN_UPDATE_INTERVAL);
        }
        _declare(sink, id, bound(capacity, 0, 150));
        lastSink = sink;
        lastId = id;
    }

    /// @notice Another reveal by the last declaring sink, inside its rate limit, must be refused.
    function spam(uint256 capacity) external clock("spam") {
        address sink = lastSink;
        bytes32 id = lastId;
        if (sink == address(0)) return;
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (s.index == 0 || s.lastUpdate == 0 || block.timestamp >= s.lastUpdate + MIN_UPDATE_INTERVAL) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) return;
        capacity = bound(capacity, 0, 150);
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
        if (!registry.isRegistered(id, sink)) return;
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) return;
        _commit(sink, id, bound(capacity, 0, 150));
    }

    /// @notice An attestation as the OffchainAggregator relays it (signature already checked):
    /// the registry must apply it or report exactly why not, never revert.
    function attest(uint256 sinkSeed, uint256 typeSeed, uint256 capacity, uint256 backlog, uint256 nonceStep)
        external
        clock("attest")
    {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        capacity = bound(capacity, 0, 150);
        backlog = bound(backlog, 0, 200);
        // mostly a higher nonce (sometimes skipping some), sometimes a replay of the last one
        uint256 nonce = nonceStep % 4 == 0 ? s.nonce : s.nonce + 1 + nonceStep % 3;
        ICapacityRegistry.Rejection expected;
        if (s.index == 0) {
            expected = ICapacityRegistry.Rejection.NotRegistered;
        } else if (nonce <= s.nonce) {
            expected = ICapacityRegistry.Rejection.NonceNotIncreasing;
        } else if (s.lastUpdate != 0 && block.timestamp < s.lastUpdate + MIN_UPDATE_INTERVAL) {
            expected = ICapacityRegistry.Rejection.TooFrequent;
        }
        vm.prank(address(aggregator));
        try registry.applyAttestations(id, abi.encodePacked(sink, uint64(capacity), uint64(backlog), uint32(nonce)))
        returns (uint256, bytes memory outcomes) {
            ICapacityRegistry.Rejection got = ICapacityRegistry.Rejection(uint8(outcomes[0]));
            if (got != expected) _violation("attestation: wrong outcome");
            CapacityRegistry.SinkState memory t = registry.sinkState(id, sink);
            if (got == ICapacityRegistry.Rejection.None) {
                ++calls["attest ok"];
                if (t.nonce != nonce || t.backlog != backlog || t.lastUpdate != block.timestamp) {
                    _violation("attestation not applied");
                }
                uint256 capped = capacity < s.allowance ? capacity : s.allowance;
                if (t.smoothed != CapacityMath.ewma(s.smoothed, capped, EWMA_ALPHA_BPS)) {
                    _violation("attestation: not one EWMA step toward the capped value");
                }
            } else if (keccak256(abi.encode(t)) != keccak256(abi.encode(s))) {
                _violation("rejected attestation changed state");
            }
        } catch {
            _violation("applyAttestations reverted");
        }
    }

    /// @notice The sink reports its backlog (rarely beyond what a slot holds: must revert).
    function reportBacklog(uint256 sinkSeed, uint256 typeSeed, uint256 backlog) external clock("reportBacklog") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (s.index == 0) return;
        backlog = backlog % 50 == 0 ? registry.MAX_VALUE() + 1 : bound(backlog, 0, 200);
        vm.prank(sink);
        try registry.reportBacklog(id, backlog) {
            if (backlog > registry.MAX_VALUE()) _violation("backlog beyond MAX_VALUE accepted");
            CapacityRegistry.SinkState memory t = registry.sinkState(id, sink);
            if (t.backlog != backlog || t.smoothed != s.smoothed || t.allowance != s.allowance) {
                _violation("backlog report moved the wrong fields");
            }
        } catch (bytes memory err) {
            if (backlog <= registry.MAX_VALUE() || bytes4(err) != CapacityRegistry.ValueTooLarge.selector) {
                _violation("reportBacklog: unexpected revert");
            }
        }
    }

    /// @notice The sink moves its allowance anywhere up to two tasks past its room: within the cap
    /// (allowances weighted by stake units per task) it must succeed (capacity at most the
    /// allowance, units exact), beyond it revert.
    function setAllowance(uint256 sinkSeed, uint256 typeSeed, uint256 allowance) external clock("setAllowance") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (s.index == 0) return;
        uint256 cap = stakeManager.getCapacityCap(sink);
        uint256 perTask = registry.taskType(id).stakeUnitsPerTask;
        uint256 others = registry.allocatedCapacity(sink) - uint256(s.allowance) * perTask;
        allowance = bound(allowance, 0, (cap - others) / perTask + 2);
        vm.prank(sink);
        try registry.setAllowance(id, allowance) {
            if (others + allowance * perTask > cap) _violation("allowance beyond the cap accepted");
            uint256 smoothed = registry.getSmoothedCapacity(id, sink);
            if (smoothed != (s.smoothed < allowance ? s.smoothed : allowance)) _violation("setAllowance: capacity");
            if (_units(id, sink) != registry.weightOf(id, sink) * UNIT_SCALE) _violation("setAllowance: units");
        } catch (bytes memory err) {
            if (others + allowance * perTask <= cap || bytes4(err) != CapacityRegistry.AllowanceExceedsCap.selector) {
                _violation("setAllowance: unexpected revert");
            }
        }
    }

    function rebalance(uint256 typeSeed) external clock("rebalance") {
        bytes32 id = ids[typeSeed % 3];
        bpPool.rebalance(id);
        address[] memory members = registry.sinksOf(id);
        for (uint256 i; i < members.length; ++i) {
            if (_units(id, members[i]) != registry.weightOf(id, members[i]) * UNIT_SCALE) {
                _violation("rebalance left a sink off its weight");
            }
        }
    }

    function register(uint256 sinkSeed, uint256 typeSeed) external clock("register") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        if (registry.isRegistered(id, sink)) return;
        if (stakeManager.getStake(sink) < MIN_SINK_STAKE) return;
        uint256 cap = stakeManager.getCapacityCap(sink);
        uint256 allocated = registry.allocatedCapacity(sink);
        uint256 perTask = registry.taskType(id).stakeUnitsPerTask;
        if (cap < allocated + perTask) {
            // the cap left backs not one task here: registering must fail, then the sink frees
            // half of one allowance
            vm.prank(sink);
            try registry.registerSink(id) {
                _violation("registered without capacity left");
            } catch (bytes memory err) {
                if (
                    keccak256(err)
                        != keccak256(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, cap, allocated))
                ) {
                    _violation("register: wrong error without capacity left");
                }
            }
            bytes32[] memory regs = registry.registrationsOf(sink);
            bytes32 donor = regs[sinkSeed % regs.length];
            uint256 allowance = registry.sinkState(donor, sink).allowance;
            if (allowance == 0) return;
            vm.prank(sink);
            registry.setAllowance(donor, allowance / 2);
        }
        uint256 room = (cap - registry.allocatedCapacity(sink)) / perTask;
        _register(sink, id);
        _connect(sink, id);
        if (registry.sinkState(id, sink).allowance != room) _violation("registration did not get the room left");
    }

    function deregister(uint256 sinkSeed, uint256 typeSeed) external clock("deregister") {
        address sink = sinks[sinkSeed % 4];
        bytes32 id = ids[typeSeed % 3];
        if (!registry.isRegistered(id, sink)) return;
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
