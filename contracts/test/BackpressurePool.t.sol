// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {BPETest} from "./utils/BPETest.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {IBackpressurePool} from "../src/interfaces/IBackpressurePool.sol";
import {EscrowBuffer} from "../src/EscrowBuffer.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";
import {SuperfluidBound} from "../src/base/SuperfluidBound.sol";
import {PoolAdmin} from "../src/PoolAdmin.sol";

/// @dev A "Super Token" that names another Superfluid host.
contract ForeignTokenMock {
    address public immutable host;

    constructor(address host_) {
        host = host_;
    }

    function getHost() external view returns (address) {
        return host;
    }
}

/// @notice BackpressurePool on the real GDA: pool creation, unit sync and its deadband, the
/// overflow share, remainder sweeping, the capacity limit, views and every revert.
contract BackpressurePoolTest is BPETest {
    using SuperTokenV1Library for ISuperToken;

    bytes32 internal id;
    address internal a;
    address internal b;
    address internal c;
    address internal src;
    bytes32 internal constant BOGUS = keccak256("bogus");

    function setUp() public override {
        super.setUp();
        (id, a, b, c) = _market123("llm", 1_000e18);
        src = _source("src", 1_000_000e18);
    }

    // ---------------------------------------------------------------- deployment and pools

    function test_constructor_parameters() public view {
        assertEq(address(bpPool.registry()), address(registry));
        assertEq(address(bpPool.buffer()), address(buffer));
        assertEq(bpPool.pipeline(), address(pipeline));
        assertEq(address(bpPool.pricing()), address(pricing));
        assertEq(bpPool.unitScale(), UNIT_SCALE);
        assertEq(registry.rebalanceThresholdBps(), REBALANCE_THRESHOLD_BPS, "the deadband lives in the registry");
        assertEq(bpPool.epochSeconds(), EPOCH);
    }

    function test_createPool_configuredForOpenDistribution() public {
        vm.recordLogs();
        bytes32 newId = _taskType("fresh", 0);
        ISuperfluidPool pool = _pool(newId);
        BackpressurePool.PoolInfo memory info = bpPool.poolInfo(newId);
        // the admin is the task type's own PoolAdmin (owned by this contract), not this contract
        assertEq(pool.admin(), address(info.admin), "the task type's PoolAdmin is the admin");
        assertTrue(address(info.admin) != address(bpPool), "not the BackpressurePool itself");
        assertEq(info.admin.owner(), address(bpPool), "the PoolAdmin obeys only the BackpressurePool");
        assertTrue(address(info.admin) != address(bpPool.poolInfo(id).admin), "one PoolAdmin per task type");
        assertEq(_pool(id).admin(), address(bpPool.poolInfo(id).admin));
        assertTrue(pool.distributionFromAnyAddress(), "sources stream in directly");
        assertFalse(pool.transferabilityForUnitsOwner(), "units cannot be traded");
        assertEq(address(pool.superToken()), address(token));
        assertEq(address(info.pool), address(pool));
        assertEq(address(info.token), address(token));
        assertFalse(info.limited);
        assertEq(info.capacityLimit, 0);

        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(bpPool)) continue;
            assertEq(logs[i].topics[0], BackpressurePool.PoolCreated.selector);
            assertEq(logs[i].topics[1], newId);
            (address p, ISuperToken tk) = abi.decode(logs[i].data, (address, ISuperToken));
            assertEq(p, address(pool));
            assertEq(address(tk), address(token));
            seen = true;
        }
        assertTrue(seen, "PoolCreated emitted");
    }

    /// @notice The Superfluid host is fixed at deployment: a token answering another host (which
    /// would route the pool's GDA calls to agreements of someone else's choosing) is refused.
    function test_createPool_refusesForeignToken() public {
        assertEq(address(bpPool.host()), address(sf.host));
        assertEq(token.getHost(), address(sf.host));
        address fakeHost = makeAddr("fake-host");
        ForeignTokenMock foreign = new ForeignTokenMock(fakeHost);
        vm.expectRevert(abi.encodeWithSelector(SuperfluidBound.ForeignToken.selector, address(foreign), fakeHost));
        vm.prank(creator);
        registry.registerTaskType("foreign", ISuperToken(address(foreign)), PRICE, 0, STAKE_UNITS_PER_TASK);
        bytes32 foreignId = registry.taskTypeIdOf(creator, "foreign");
        assertEq(bpPool.getPool(foreignId), address(0), "no pool created");
        assertEq(registry.taskType(foreignId).creator, address(0), "no task type either");
    }

    function test_createPool_onlyRegistry() public {
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotRegistry.selector, a));
        bpPool.createPool(BOGUS, token);
        assertEq(bpPool.getPool(BOGUS), address(0));
    }

    function test_setSinkUnits_onlyRegistry() public {
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotRegistry.selector, a));
        bpPool.setSinkUnits(id, a, 1_000);
        assertEq(_units(id, a), 10 * UNIT_SCALE, "unchanged");
        // not even the pool's admin-side contracts: only the registry
        vm.prank(address(pipeline));
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotRegistry.selector, address(pipeline)));
        bpPool.setSinkUnits(id, a, 0);
        assertEq(_units(id, a), 10 * UNIT_SCALE, "unchanged");
    }

    function test_setSinkUnits_fromTheRegistrySetsExactlyWeightTimesScale() public {
        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, a, 7 * UNIT_SCALE);
        vm.prank(address(registry));
        bpPool.setSinkUnits(id, a, 7);
        assertEq(_units(id, a), 7 * UNIT_SCALE, "no deadband here: the registry decided");
    }

    /// @notice The registry's takeWeights is the pool's alone (it records every weight as pushed).
    function test_takeWeights_onlyThePool() public {
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotBackpressurePool.selector, a));
        registry.takeWeights(id, 0, 10);
        vm.prank(address(registry));
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotBackpressurePool.selector, address(registry)));
        registry.takeWeights(id, 0, 10);
        vm.prank(address(bpPool));
        (address[] memory sinks, uint256[] memory weights, uint256 total) = registry.takeWeights(id, 1, 10);
        assertEq(total, 3);
        assertEq(sinks.length, 2, "from the second sink to the end");
        assertEq(weights.length, 2);
        assertEq(sinks[0], registry.sinksOf(id)[1]);
        for (uint256 i; i < sinks.length; ++i) {
            assertEq(weights[i], registry.weightOf(id, sinks[i]));
            assertEq(registry.sinkState(id, sinks[i]).pushed, weights[i], "recorded as pushed");
        }
    }

    // ---------------------------------------------------------------- units follow capacity

    function test_units_areSmoothedTimesScale() public view {
        assertEq(_units(id, a), 10 * UNIT_SCALE);
        assertEq(_units(id, b), 20 * UNIT_SCALE);
        assertEq(_units(id, c), 30 * UNIT_SCALE);
        assertEq(_units(id, address(buffer)), 0, "no overflow without inflow");
        assertEq(_pool(id).getTotalUnits(), 60 * UNIT_SCALE);
    }

    function test_units_updateEmitsAndDeadbandSkipsSmallChanges() public {
        address big = _sink("big", id, 20_000e18); // cap 20,000 units: 1,000 tasks
        // 0 -> 30 -> 51 -> 66 -> 77 -> 84 -> 89 -> 93 -> 96 -> 98 -> 99 -> 100: the units follow
        // each step more than 5 % away from them (89 -> 93 is 4.5 %: skipped; 96: 7.9 %: applied)
        // and skip the last three (98, 99, 100 are within 5 % of 96).
        _declareUntilSettled(big, id, 100);
        assertEq(registry.getSmoothedCapacity(id, big), 100);
        assertEq(_units(id, big), 96 * UNIT_SCALE, "the last small steps stayed in the deadband");
        assertFalse(CapacityMath.outsideDeadband(_units(id, big), 100 * UNIT_SCALE, REBALANCE_THRESHOLD_BPS));
        assertFalse(bpPool.needsRebalance(id), "inside the deadband counts as in sync");

        // 100 -> 102: 6.25 % away from the units (96): updated to the exact target
        bytes32 nonce = _commit(big, id, 104);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, big, 102 * UNIT_SCALE);
        vm.prank(big);
        registry.revealCapacity(id, 104, nonce);
        assertEq(_units(id, big), 102 * UNIT_SCALE);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);

        // 102 -> 103 (1 %): no GDA call at all
        vm.recordLogs();
        _declare(big, id, 104);
        assertEq(registry.getSmoothedCapacity(id, big), 103);
        assertEq(_units(id, big), 102 * UNIT_SCALE, "deadband: units unchanged");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != BackpressurePool.SinkUnitsUpdated.selector, "no unit update");
            assertTrue(logs[i].emitter != address(_pool(id)), "no pool call");
        }
    }

    function test_units_forcedUpdatesBypassTheDeadband() public {
        address big = _sink("big", id, 10_000e18); // cap 10,000 units: allowance 500 tasks
        _declareUntilSettled(big, id, 100);
        // a slash of 1 % of the stake scales the capacity by 1 %: 100 -> 99, still applied at once
        vm.prank(slasher);
        stakeManager.slash(big, 100e18, "x");
        assertEq(registry.sinkState(id, big).allowance, 495, "500 * 9,900 / 10,000");
        assertEq(registry.getSmoothedCapacity(id, big), 99);
        assertEq(_units(id, big), 99 * UNIT_SCALE, "forced");
    }

    function test_units_oneSinkChangeIsO1() public {
        for (uint256 i; i < 7; ++i) {
            address s = _sink(string.concat("x", vm.toString(i)), id, 400e18);
            _declareUntilSettled(s, id, 5 + i);
        }
        assertEq(registry.sinksOf(id).length, 10);
        _stream(src, id, _rate(200)); // overflow: the buffer share moves too
        bpPool.updateOverflow(id);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);

        vm.recordLogs();
        _declare(a, id, 20);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 unitUpdates;
        uint256 sinkUpdates;
        address pool = address(_pool(id));
        for (uint256 i; i < logs.length; ++i) {
            // SuperfluidPool emits an ERC20 Transfer for every unit change
            if (logs[i].emitter == pool && logs[i].topics[0] == keccak256("Transfer(address,address,uint256)")) {
                ++unitUpdates;
            }
            if (logs[i].topics[0] == BackpressurePool.SinkUnitsUpdated.selector) ++sinkUpdates;
        }
        assertEq(sinkUpdates, 1, "only the declaring sink is re-weighted");
        assertLe(unitUpdates, 2, "at most its own units and the buffer's");
        assertGe(unitUpdates, 1);
    }

    // ---------------------------------------------------------------- units follow the queue-adjusted weight

    /// @notice A backlog makes a sink dearer, so it gets less: its units are its queue-adjusted
    /// weight C^2 / (C + backlog) (gamma = 1), re-set in the report's own transaction, and the
    /// pool routes by the total weight.
    function test_units_followQueueWeight() public {
        _stream(src, id, _rate(30));
        uint256 rateA = _memberRate(id, a);
        uint256 rateC = _memberRate(id, c);
        assertEq(rateC, 3 * rateA);

        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, c, 15 * UNIT_SCALE);
        vm.prank(c);
        registry.reportBacklog(id, 30); // 30^2 / (30 + 30) = 15
        assertEq(registry.weightOf(id, c), 15);
        assertEq(_units(id, c), 15 * UNIT_SCALE, "units drop in the same transaction");
        assertEq(registry.getSmoothedCapacity(id, c), 30, "capacity itself unchanged");
        assertEq(registry.totalWeight(id), 45);
        assertEq(registry.totalCapacity(id), 60);
        assertEq(bpPool.effectiveCapacity(id), 45, "the pool routes by weight");
        assertEq(bpPool.absorbableRate(id), _rateOf(45));
        // shares now 10 : 20 : 15 of 45
        assertLt(_memberRate(id, c), rateC, "the backlogged sink loses share");
        assertGt(_memberRate(id, a), rateA, "the others gain it");
        assertApproxEqAbs(_memberRate(id, c) * 10, _memberRate(id, a) * 15, 15 * UNIT_SCALE * 10);

        // the queue clears: the weight, the units and the share come back
        vm.prank(c);
        registry.reportBacklog(id, 0);
        assertEq(_units(id, c), 30 * UNIT_SCALE);
        assertEq(registry.totalWeight(id), 60);
        assertEq(_memberRate(id, c), 3 * _memberRate(id, a));
    }

    /// @notice The deadband applies to the weight: a small backlog leaves the units alone (no GDA
    /// call), a rebalance then makes them exact.
    function test_units_smallBacklogStaysInTheDeadband() public {
        vm.recordLogs();
        vm.prank(c);
        registry.reportBacklog(id, 1); // 900 / 31 = 29: 3.3 % off
        assertEq(registry.weightOf(id, c), 29);
        assertEq(_units(id, c), 30 * UNIT_SCALE, "inside the deadband: unchanged");
        assertEq(registry.sinkState(id, c).pushed, 30, "the pool still has the old weight");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(_pool(id)), "no pool call");
            assertTrue(logs[i].topics[0] != BackpressurePool.SinkUnitsUpdated.selector, "no unit update");
        }
        assertFalse(bpPool.needsRebalance(id));
        bpPool.rebalance(id);
        assertEq(_units(id, c), 29 * UNIT_SCALE, "exact after a rebalance");
        assertEq(registry.sinkState(id, c).pushed, 29);
    }

    /// @notice What the sinks absorb is priced by the PricingCurve's base fee: the creation price
    /// until the first epoch step, the stepped fee after it; the overflow share follows at once.
    function test_absorbableRate_pricedByTheBaseFee() public {
        assertEq(pricing.baseFee(id), PRICE, "the creation price before the first step");
        assertEq(bpPool.absorbableRate(id), 60 * PRICE / EPOCH);
        // 2 % more than the sinks absorb at the creation price: an overflow share
        _stream(src, id, int96(int256(60 * PRICE / EPOCH * 102 / 100)));
        bpPool.updateOverflow(id);
        assertGt(_units(id, address(buffer)), 0, "overflow at the creation price");
        pricing.advanceEpoch(id); // starts the clock: no measured epoch yet
        assertEq(pricing.baseFee(id), PRICE, "the first advance only starts the clock");
        assertGt(_units(id, address(buffer)), 0, "still overflowing");

        // utilisation ~102 % over the epoch against a target of 80 %: the fee steps up ~3.4 %,
        // past the 2 %
        vm.warp(block.timestamp + EPOCH);
        pricing.advanceEpoch(id);
        uint256 fee = pricing.baseFee(id);
        assertGt(fee, PRICE * 10_300 / 10_000, "the fee stepped up");
        assertLt(fee, PRICE * 10_400 / 10_000);
        assertEq(bpPool.absorbableRate(id), 60 * fee / EPOCH, "absorbable priced by the new fee");
        assertGt(bpPool.absorbableRate(id), bpPool.inflowRate(id));
        assertEq(_units(id, address(buffer)), 0, "the overflow share went away in the same transaction");
        assertEq(_memberRate(id, address(buffer)), 0);
    }

    // ---------------------------------------------------------------- overflow share

    function test_updateOverflow_sizesBufferShare() public {
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(2 * absorbable)));
        uint256 inflow = bpPool.inflowRate(id);
        // the GDA rounds the requested rate down to a multiple of the 60,000 units
        assertEq(inflow, 2 * absorbable / 60_000 * 60_000);
        assertEq(bpPool.absorbableRate(id), absorbable);
        assertTrue(bpPool.needsRebalance(id), "the stream changed, the buffer share did not yet");

        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.OverflowUnitsUpdated(id, 60 * UNIT_SCALE, inflow, absorbable);
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 60 * UNIT_SCALE, "half the units: half the inflow");
        assertFalse(bpPool.needsRebalance(id));
        assertLe(_sinksRate(id), absorbable, "sinks get what they absorb");
        assertApproxEqAbs(_sinksRate(id), absorbable, 60 * UNIT_SCALE, "up to one wei/s per unit");
        assertEq(_memberRate(id, address(buffer)) + _sinksRate(id) + _adjustmentRate(id), inflow);

        // demand falls below capacity: the buffer share goes back to zero
        _stream(src, id, int96(int256(absorbable / 2)));
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 0);
        assertEq(_memberRate(id, address(buffer)), 0);
    }

    function test_updateOverflow_revertsOnUnknownType() public {
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.updateOverflow(BOGUS);
    }

    function test_overflowFollowsCapacityChangesInTheSameTransaction() public {
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(absorbable)));
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 0, "exactly full, no overflow");
        // c halves its capacity: sinks can absorb less, the buffer share appears at once
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(c, id, 0); // 30 -> 21
        uint256 newAbsorbable = _rateOf(51);
        assertGt(_units(id, address(buffer)), 0, "overflow share set in the reveal transaction");
        assertLe(_sinksRate(id), newAbsorbable, "sinks never get more than they absorb");
        assertApproxEqRel(_sinksRate(id), newAbsorbable, 1e12);
    }

    function test_lastSinkLeavingRoutesEverythingToTheBuffer() public {
        _stream(src, id, _rate(30));
        uint256 rate = bpPool.inflowRate(id);
        _deregister(a, id);
        _deregister(b, id);
        _deregister(c, id);
        assertEq(_units(id, address(buffer)), 1, "no sink units: the buffer is the only member");
        assertEq(_memberRate(id, address(buffer)), rate, "re-synced: the whole inflow reaches the buffer");
        assertEq(_adjustmentRate(id), 0, "nothing left with the admin");
        uint256 level = buffer.bufferLevel(id);
        vm.warp(block.timestamp + 100);
        assertEq(buffer.bufferLevel(id), level + rate * 100);
    }

    // ---------------------------------------------------------------- remainders

    function test_remainderIsSweptIntoTheBuffer() public {
        _stream(src, id, int96(int256(60_000 * 1e9))); // a multiple of the 60,000 units
        assertEq(_adjustmentRate(id), 0);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 11); // 10 -> 11: 61,000 units no longer divide the flow
        uint256 adjustment = _adjustmentRate(id);
        assertGt(adjustment, 0, "GDA rounding remainder goes to the admin");
        assertLt(adjustment, _pool(id).getTotalUnits(), "less than one unit's worth");
        assertEq(
            bpPool.inflowRate(id),
            uint256(int256(_pool(id).getTotalFlowRate())) + adjustment,
            "inflow counts the remainder"
        );

        // the remainder flows to the task type's own PoolAdmin, never to the BackpressurePool
        PoolAdmin admin = bpPool.poolInfo(id).admin;
        (address recipient,,) = sf.gda.getPoolAdjustmentFlowInfo(_pool(id));
        assertEq(recipient, address(admin), "the adjustment flow goes to the PoolAdmin");

        vm.warp(block.timestamp + 1_000);
        uint256 swept = token.balanceOf(address(admin));
        assertEq(swept, adjustment * 1_000);
        assertEq(token.balanceOf(address(bpPool)), 0, "nothing with the BackpressurePool");
        uint256 levelBefore = buffer.bufferLevel(id);
        vm.expectEmit(true, false, false, true, address(buffer));
        emit EscrowBuffer.RemainderCredited(id, swept);
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.RemainderSwept(id, swept);
        bpPool.updateOverflow(id);
        assertEq(token.balanceOf(address(admin)), 0, "the PoolAdmin swept empty");
        assertEq(token.balanceOf(address(bpPool)), 0);
        assertEq(token.balanceOf(address(buffer)), swept);
        assertEq(buffer.ledgerOf(id).credited, swept);
        assertEq(buffer.bufferLevel(id), levelBefore + swept);
    }

    // ---------------------------------------------------------------- rebalance

    function test_rebalance_catchesUpAndEmits() public {
        _stream(src, id, _rate(120));
        assertTrue(bpPool.needsRebalance(id));
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit IBackpressurePool.Rebalanced(id, 3, 60);
        vm.prank(makeAddr("anyone")); // permissionless
        bpPool.rebalance(id);
        assertFalse(bpPool.needsRebalance(id));
        assertEq(_units(id, address(buffer)), 60 * UNIT_SCALE);
    }

    /// @notice The deadband lets single updates leave units a little off their target; a paid-for
    /// rebalance leaves nothing stale: every sink's units exactly weight * scale, every weight
    /// recorded as pushed.
    function test_rebalance_makesDriftedUnitsExact() public {
        address big = _sink("big", id, 20_000e18);
        _declareUntilSettled(big, id, 100);
        assertEq(_units(id, big), 96 * UNIT_SCALE, "drifted inside the deadband");
        assertFalse(bpPool.needsRebalance(id), "not worth a keeper's transaction on its own");
        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, big, 100 * UNIT_SCALE);
        bpPool.rebalance(id);
        assertEq(_units(id, big), 100 * UNIT_SCALE, "exact after a rebalance");
        address[] memory sinks = registry.sinksOf(id);
        for (uint256 i; i < sinks.length; ++i) {
            assertEq(_units(id, sinks[i]), registry.getSmoothedCapacity(id, sinks[i]) * UNIT_SCALE);
            assertEq(registry.sinkState(id, sinks[i]).pushed, registry.weightOf(id, sinks[i]));
        }
        // with backlogs the target is the weight, not the capacity
        vm.prank(a);
        registry.reportBacklog(id, 1); // 100 / 11 = 9: 10 % off, pushed at once
        vm.prank(big);
        registry.reportBacklog(id, 3); // 10,000 / 103 = 97: 3 % off, left in the deadband
        assertEq(_units(id, a), 9 * UNIT_SCALE);
        assertEq(_units(id, big), 100 * UNIT_SCALE);
        bpPool.rebalance(id);
        for (uint256 i; i < sinks.length; ++i) {
            assertEq(_units(id, sinks[i]), registry.weightOf(id, sinks[i]) * UNIT_SCALE, "weight * scale");
            assertEq(registry.sinkState(id, sinks[i]).pushed, registry.weightOf(id, sinks[i]));
        }
        assertEq(_units(id, big), 97 * UNIT_SCALE);
    }

    function test_rebalance_sweepsRemainder() public {
        _stream(src, id, int96(int256(60_000 * 1e9)));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 11);
        vm.warp(block.timestamp + 500);
        address admin = address(bpPool.poolInfo(id).admin);
        uint256 remainder = token.balanceOf(admin);
        assertEq(remainder, _adjustmentRate(id) * 500, "500 s of the adjustment flow");
        assertGt(remainder, 0);
        bpPool.rebalance(id);
        assertEq(token.balanceOf(admin), 0);
        assertEq(token.balanceOf(address(bpPool)), 0);
        assertEq(buffer.ledgerOf(id).credited, remainder);
    }

    /// @notice Two task types on one token: each pool's remainder accrues to its own PoolAdmin, and
    /// a sweep of one task type credits its buffer with exactly its own pool's remainder, never
    /// the other's.
    function test_remainderStaysWithItsTaskType() public {
        bytes32 other = _taskType("other", 1_000e18);
        address d = _sink("d", other, 400e18);
        _declareUntilSettled(d, other, 10);
        bpPool.rebalance(other);
        _stream(src, id, int96(int256(60_000 * 1e9)));
        address src2 = _source("src2", 1_000_000e18);
        _stream(src2, other, int96(int256(10_000 * 1e9)));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 11); // id's pool no longer divides its flow; other's still does
        assertGt(_adjustmentRate(id), 0);
        assertEq(_adjustmentRate(other), 0);
        vm.warp(block.timestamp + 700);
        address adminId = address(bpPool.poolInfo(id).admin);
        address adminOther = address(bpPool.poolInfo(other).admin);
        uint256 remainder = token.balanceOf(adminId);
        assertEq(remainder, _adjustmentRate(id) * 700);
        assertEq(token.balanceOf(adminOther), 0, "the other task type's admin holds nothing");

        bpPool.updateOverflow(other); // sweeping the other type first takes nothing of id's
        assertEq(buffer.ledgerOf(other).credited, 0);
        assertEq(token.balanceOf(adminId), remainder, "id's remainder untouched");
        bpPool.updateOverflow(id);
        assertEq(buffer.ledgerOf(id).credited, remainder, "credited to the task type that produced it");
        assertEq(buffer.ledgerOf(other).credited, 0);
    }

    /// @notice With more than REBALANCE_BATCH sinks a rebalance works in bounded pieces: each call
    /// re-weights the next 32 sinks from a cursor, and only the call reaching the end of the list
    /// sizes the overflow share, sweeps the remainder and emits Rebalanced, then starts over.
    function test_rebalance_worksInBoundedBatches() public {
        assertEq(bpPool.REBALANCE_BATCH(), 32);
        for (uint256 i; i < 32; ++i) {
            _sinkUnconnected(string.concat("extra-", vm.toString(i)), id, 100e18); // weight 0
        }
        address[] memory sinks = registry.sinksOf(id);
        assertEq(sinks.length, 35);
        _stream(src, id, int96(int256(60_000 * 1e9)));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 11); // 61,000 units: a remainder flows to the PoolAdmin
        vm.prank(c);
        registry.reportBacklog(id, 1); // weight 30 -> 29: inside the deadband, not pushed
        assertEq(_units(id, c), 30 * UNIT_SCALE, "drift left in the deadband");
        vm.warp(block.timestamp + 500);
        address admin = address(bpPool.poolInfo(id).admin);
        uint256 remainder = token.balanceOf(admin);
        assertGt(remainder, 0);

        vm.recordLogs();
        bpPool.rebalance(id); // sinks 0..31
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != IBackpressurePool.Rebalanced.selector, "not at the end yet");
            assertTrue(logs[i].topics[0] != BackpressurePool.RemainderSwept.selector, "no sweep mid-pass");
        }
        assertEq(bpPool.poolInfo(id).cursor, 32, "the cursor moved one batch");
        assertEq(_units(id, c), 29 * UNIT_SCALE, "c (in the first batch) made exact");
        assertEq(token.balanceOf(admin), remainder, "the remainder waits for the end of the pass");

        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.RemainderSwept(id, remainder);
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit IBackpressurePool.Rebalanced(id, 35, 61);
        bpPool.rebalance(id); // sinks 32..34, then the end-of-pass work
        assertEq(bpPool.poolInfo(id).cursor, 0, "starts over");
        assertEq(token.balanceOf(admin), 0);
        assertEq(buffer.ledgerOf(id).credited, remainder);
        for (uint256 i; i < sinks.length; ++i) {
            assertEq(registry.sinkState(id, sinks[i]).pushed, registry.weightOf(id, sinks[i]), "all taken");
        }
    }

    /// @notice syncUnits: anyone re-pushes one sink's weight in O(1); nothing to do reverts InSync.
    function test_syncUnits_bringsOneSinkToItsWeight() public {
        address big = _sink("big", id, 20_000e18);
        _declareUntilSettled(big, id, 100);
        assertEq(_units(id, big), 96 * UNIT_SCALE, "drifted inside the deadband");
        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, big, 100 * UNIT_SCALE);
        vm.prank(makeAddr("anyone"));
        registry.syncUnits(id, big);
        assertEq(_units(id, big), 100 * UNIT_SCALE);
        assertEq(registry.sinkState(id, big).pushed, 100);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.InSync.selector, id, big));
        registry.syncUnits(id, big);
    }

    /// @notice Unit pushes are isolated: a push the pool refuses is recorded (UnitsPushFailed, the
    /// old `pushed` kept) instead of reverting the sink's report, and syncUnits retries it; a
    /// caller that cannot give the push its full gas allowance is refused up front.
    function test_unitPush_isolatedAndRetried() public {
        vm.mockCallRevert(
            address(bpPool), abi.encodeWithSelector(BackpressurePool.setSinkUnits.selector), bytes("refused")
        );
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.UnitsPushFailed(id, a, 5);
        vm.prank(a);
        registry.reportBacklog(id, 10); // weight 10 -> 5: a push, which fails
        assertEq(registry.weightOf(id, a), 5, "the report itself stands");
        assertEq(registry.sinkState(id, a).pushed, 10, "the pool still holds the old weight");
        assertEq(_units(id, a), 10 * UNIT_SCALE);
        vm.clearMockedCalls();

        registry.syncUnits(id, a); // anyone retries
        assertEq(_units(id, a), 5 * UNIT_SCALE);
        assertEq(registry.sinkState(id, a).pushed, 5);

        // too little gas for the push allowance: refused, not a silently failed push
        assertEq(registry.UNIT_PUSH_GAS(), 1_500_000);
        vm.prank(a);
        vm.expectPartialRevert(CapacityRegistry.InsufficientGas.selector);
        registry.reportBacklog{gas: 1_000_000}(id, 0);
        assertEq(registry.weightOf(id, a), 5, "nothing changed");
    }

    function test_rebalance_revertsOnUnknownType() public {
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.rebalance(BOGUS);
    }

    function test_needsRebalance_revertsOnUnknownType() public {
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.needsRebalance(BOGUS);
    }

    // ---------------------------------------------------------------- capacity limit

    function test_setCapacityLimit_onlyPipeline() public {
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotPipeline.selector, a));
        bpPool.setCapacityLimit(id, 1);
        assertFalse(bpPool.poolInfo(id).limited);
    }

    function test_setCapacityLimit_revertsOnUnknownType() public {
        vm.prank(address(pipeline));
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.setCapacityLimit(BOGUS, 1);
    }

    function test_setCapacityLimit_capsAbsorbableAndSyncsOverflow() public {
        uint256 absorbable = _rateOf(60);
        _stream(src, id, int96(int256(absorbable)));
        bpPool.updateOverflow(id);
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.CapacityLimitSet(id, 20);
        vm.prank(address(pipeline));
        bpPool.setCapacityLimit(id, 20);
        BackpressurePool.PoolInfo memory info = bpPool.poolInfo(id);
        assertTrue(info.limited);
        assertEq(info.capacityLimit, 20);
        assertEq(bpPool.effectiveCapacity(id), 20);
        assertEq(bpPool.absorbableRate(id), _rateOf(20));
        assertLe(_sinksRate(id), _rateOf(20), "sinks limited to the downstream's capacity");
        assertApproxEqRel(_sinksRate(id), _rateOf(20), 1e12);
        // a limit above the registry's total changes nothing
        vm.prank(address(pipeline));
        bpPool.setCapacityLimit(id, 1_000);
        assertEq(bpPool.effectiveCapacity(id), 60);
        assertEq(_units(id, address(buffer)), 0);
        // a zero limit sends (almost) everything to the buffer
        vm.prank(address(pipeline));
        bpPool.setCapacityLimit(id, 0);
        assertEq(_units(id, address(buffer)), 60 * UNIT_SCALE * CapacityMath.OVERFLOW_ALL);
        assertLe(_sinksRate(id), absorbable / 1_000_000);
    }

    // ---------------------------------------------------------------- views

    function test_views() public {
        assertEq(bpPool.getPool(BOGUS), address(0));
        assertEq(bpPool.effectiveCapacity(id), 60);
        assertEq(bpPool.absorbableRate(id), 60 * PRICE / EPOCH);
        assertEq(bpPool.inflowRate(id), 0);
        _stream(src, id, int96(int256(60_000 * 1e9)));
        assertEq(bpPool.inflowRate(id), 60_000 * 1e9);
    }

    function test_views_revertOnUnknownType() public {
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.inflowRate(BOGUS);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.absorbableRate(BOGUS);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.UnknownTaskType.selector, BOGUS));
        bpPool.effectiveCapacity(BOGUS);
    }

    // ---------------------------------------------------------------- fuzz

    /// @notice For any inflow: after the overflow share is sized, the sinks together get at most
    /// what they absorb (and, when there is overflow, no less than that minus rounding), the
    /// buffer the rest, and sinks + buffer + remainder == inflow to the wei.
    /// forge-config: default.fuzz.runs = 256
    function testFuzz_overflowShare(uint256 rate) public {
        rate = bound(rate, 1e9, 1e17);
        _stream(src, id, int96(int256(rate)));
        bpPool.updateOverflow(id);
        uint256 inflow = bpPool.inflowRate(id);
        uint256 absorbable = bpPool.absorbableRate(id);
        uint256 toSinks = _sinksRate(id);
        uint256 toBuffer = _memberRate(id, address(buffer));
        assertLe(toSinks, absorbable, "never more than absorbable");
        assertEq(toSinks + toBuffer + _adjustmentRate(id), inflow, "every wei/s goes somewhere");
        uint256 total = _pool(id).getTotalUnits();
        if (inflow > absorbable) {
            // B minimal => inflow*U/(U+B-1) > absorbable; per-unit flooring costs < 1 wei/s per unit
            // and whatever remainder is left is not worth folding (under one wei/s per unit or
            // within the 0.1 % tolerance): the overflow update re-synced it otherwise
            uint256 distributed = uint256(int256(_pool(id).getTotalFlowRate()));
            assertFalse(CapacityMath.remainderWorthFolding(_adjustmentRate(id), total, distributed), "remainder");
            assertGe(toSinks + 2 * 60 * UNIT_SCALE + absorbable / total + 1, absorbable, "no needless overflow");
        } else {
            assertEq(toBuffer, 0, "no overflow while the sinks can absorb it all");
        }
        // units match capacities
        assertEq(_units(id, a) * 2, _units(id, b));
        assertEq(_units(id, a) * 3, _units(id, c));
    }

    /// @notice Whatever the capacities and the inflow: after one rebalance nothing needs a
    /// rebalance, and a second one changes nothing (no unit update, no re-sync): a keeper that
    /// polls needsRebalance never loops.
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_rebalanceIdempotent(uint256 rate, uint8 capA, uint8 capB, uint8 capC) public {
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, capA % 21);
        _declare(b, id, capB % 31);
        _declare(c, id, capC % 41);
        _stream(src, id, int96(int256(bound(rate, 1e9, 1e16))));
        vm.warp(block.timestamp + 100);
        bpPool.rebalance(id);
        assertFalse(bpPool.needsRebalance(id), "in sync after a rebalance");
        uint256 inflow = bpPool.inflowRate(id);
        vm.recordLogs();
        bpPool.rebalance(id);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != BackpressurePool.SinkUnitsUpdated.selector, "no sink update");
            assertTrue(logs[i].topics[0] != BackpressurePool.OverflowUnitsUpdated.selector, "no overflow update");
            assertTrue(logs[i].emitter != address(_pool(id)), "no unit change");
            assertTrue(logs[i].emitter != address(sf.gda), "no distribution (re-sync)");
        }
        assertEq(bpPool.inflowRate(id), inflow, "folding never changes what sources pay");
    }
}
