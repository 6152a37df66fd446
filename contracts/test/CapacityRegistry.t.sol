// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {BPETest} from "./utils/BPETest.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {ICapacityRegistry} from "../src/interfaces/ICapacityRegistry.sol";
import {ICapacitySignal} from "../src/interfaces/ICapacitySignal.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";

/// @notice CapacityRegistry: task types, sink registration, the stake-capped EWMA, stake changes.
/// Commit-reveal mechanics are in CommitReveal.t.sol.
contract CapacityRegistryTest is BPETest {
    bytes32 internal id;
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 1_000e18);
    }

    /// @dev Sum over the sink's task types of their allowances, each times its task type's stake
    /// units per task: what its stake must back (stake units).
    function _allotted(address sink) internal view returns (uint256 sum) {
        bytes32[] memory regs = registry.registrationsOf(sink);
        for (uint256 i; i < regs.length; ++i) {
            sum += uint256(registry.sinkState(regs[i], sink).allowance) * registry.taskType(regs[i]).stakeUnitsPerTask;
        }
    }

    /// @dev Sum over the sink's task types of their smoothed capacities, in stake units.
    function _claimed(address sink) internal view returns (uint256 sum) {
        bytes32[] memory regs = registry.registrationsOf(sink);
        for (uint256 i; i < regs.length; ++i) {
            sum += registry.getSmoothedCapacity(regs[i], sink) * registry.taskType(regs[i]).stakeUnitsPerTask;
        }
    }

    function _sumWeights(bytes32 taskTypeId) internal view returns (uint256 sum) {
        address[] memory sinks = registry.sinksOf(taskTypeId);
        for (uint256 i; i < sinks.length; ++i) {
            sum += registry.weightOf(taskTypeId, sinks[i]);
        }
    }

    function _setAllowance(address sink, bytes32 taskTypeId, uint256 allowance) internal {
        vm.prank(sink);
        registry.setAllowance(taskTypeId, allowance);
    }

    function _reportBacklog(address sink, bytes32 taskTypeId, uint256 backlog) internal {
        vm.prank(sink);
        registry.reportBacklog(taskTypeId, backlog);
    }

    /// @dev The queue-adjusted weight with the fixture's gamma = 1: C^2 / (C + backlog).
    function _weight(uint256 capacity, uint256 backlog) internal pure returns (uint256) {
        return capacity == 0 ? 0 : capacity * capacity / (capacity + backlog);
    }

    function _sumSmoothed(bytes32 taskTypeId) internal view returns (uint256 sum) {
        address[] memory sinks = registry.sinksOf(taskTypeId);
        for (uint256 i; i < sinks.length; ++i) {
            sum += registry.getSmoothedCapacity(taskTypeId, sinks[i]);
        }
    }

    // ---------------------------------------------------------------- deployment

    function test_constructor_parameters() public view {
        assertEq(address(registry.stakeManager()), address(stakeManager));
        assertEq(address(registry.backpressurePool()), address(bpPool));
        assertEq(registry.ewmaAlphaBps(), EWMA_ALPHA_BPS);
        assertEq(registry.commitTimeout(), COMMIT_TIMEOUT);
        assertEq(registry.minUpdateInterval(), MIN_UPDATE_INTERVAL);
        assertEq(registry.maxTaskTypesPerSink(), MAX_TASK_TYPES_PER_SINK);
        assertEq(registry.aggregator(), address(aggregator));
        assertEq(registry.queuePremiumBps(), QUEUE_PREMIUM_BPS);
        assertEq(registry.rebalanceThresholdBps(), REBALANCE_THRESHOLD_BPS);
        assertEq(registry.MAX_VALUE(), type(uint40).max);
    }

    // ---------------------------------------------------------------- task types

    function test_registerTaskType_createsTypeAndPool() public {
        _stake(alice, MIN_SINK_STAKE);
        bytes32 expected = keccak256(abi.encode(alice, "vision"));
        assertEq(registry.taskTypeIdOf(alice, "vision"), expected);
        vm.recordLogs();
        vm.prank(alice);
        bytes32 newId = registry.registerTaskType("vision", token, 7e14, 5e18, 35);
        assertEq(newId, expected);

        ICapacityRegistry.TaskType memory t = registry.taskType(newId);
        assertEq(t.creator, alice);
        assertEq(address(t.token), address(token));
        assertEq(t.pricePerTask, 7e14);
        assertEq(t.bufferMax, 5e18);
        assertEq(t.totalCapacity, 0);
        assertEq(t.totalWeight, 0);
        assertEq(t.sinkCount, 0);
        assertEq(t.stakeUnitsPerTask, 35, "stake units per task fixed at creation");
        assertTrue(registry.exists(newId));
        assertEq(registry.pricePerTask(newId), 7e14);
        assertEq(registry.totalCapacity(newId), 0);
        assertEq(registry.totalWeight(newId), 0);
        assertEq(registry.sinksOf(newId).length, 0);
        address pool = bpPool.getPool(newId);
        assertTrue(pool != address(0), "pool created");
        assertEq(stakeManager.accountOf(alice).registrations, 0, "creating a type locks no stake");

        // TaskTypeRegistered(id, creator, token, pool, price, bufferMax, stakeUnitsPerTask, name)
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(registry)) continue;
            assertEq(logs[i].topics[0], CapacityRegistry.TaskTypeRegistered.selector);
            assertEq(logs[i].topics[1], newId);
            assertEq(logs[i].topics[2], bytes32(uint256(uint160(alice))));
            (ISuperToken tk, address p, uint256 price, uint256 maxBuffer, uint256 perTask, string memory name) =
                abi.decode(logs[i].data, (ISuperToken, address, uint256, uint256, uint256, string));
            assertEq(address(tk), address(token));
            assertEq(p, pool);
            assertEq(price, 7e14);
            assertEq(maxBuffer, 5e18);
            assertEq(perTask, 35);
            assertEq(name, "vision");
            seen = true;
        }
        assertTrue(seen, "TaskTypeRegistered emitted");
    }

    function test_registerTaskType_sameNameDifferentCreatorsDistinct() public {
        _stake(alice, MIN_SINK_STAKE);
        vm.prank(alice);
        bytes32 other = registry.registerTaskType("llm", token, PRICE, 0, STAKE_UNITS_PER_TASK);
        assertTrue(other != id, "ids bound to the creator: no squatting");
        assertTrue(bpPool.getPool(other) != bpPool.getPool(id));
    }

    function test_registerTaskType_revertsOnEmptyName() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.EmptyName.selector);
        registry.registerTaskType("", token, PRICE, 0, STAKE_UNITS_PER_TASK);
    }

    function test_registerTaskType_revertsOnZeroToken() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.ZeroAddress.selector);
        registry.registerTaskType("x", ISuperToken(address(0)), PRICE, 0, STAKE_UNITS_PER_TASK);
    }

    function test_registerTaskType_revertsOnZeroPrice() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.ZeroPrice.selector);
        registry.registerTaskType("x", token, 0, 0, STAKE_UNITS_PER_TASK);
    }

    /// @notice The price is stored in 96 bits (next to the creator): anything larger is refused,
    /// never truncated.
    function test_registerTaskType_revertsWhenPriceTooLarge() public {
        uint256 tooLarge = uint256(type(uint96).max) + 1;
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.PriceTooLarge.selector, tooLarge));
        registry.registerTaskType("x", token, tooLarge, 0, STAKE_UNITS_PER_TASK);
        assertFalse(registry.exists(registry.taskTypeIdOf(creator, "x")));
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.PriceTooLarge.selector, type(uint256).max));
        registry.registerTaskType("x", token, type(uint256).max, 0, STAKE_UNITS_PER_TASK);
        // the largest price that fits is kept exactly
        vm.prank(creator);
        bytes32 maxId = registry.registerTaskType("x", token, type(uint96).max, 0, STAKE_UNITS_PER_TASK);
        assertEq(registry.pricePerTask(maxId), type(uint96).max);
        assertEq(registry.taskType(maxId).pricePerTask, type(uint96).max);
        assertEq(pricing.baseFee(maxId), type(uint96).max, "the base fee starts from it");
    }

    function test_registerTaskType_revertsWithoutStake() public {
        _stake(alice, MIN_SINK_STAKE - 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.InsufficientStake.selector, MIN_SINK_STAKE - 1, MIN_SINK_STAKE)
        );
        registry.registerTaskType("x", token, PRICE, 0, STAKE_UNITS_PER_TASK);
        assertFalse(registry.exists(registry.taskTypeIdOf(alice, "x")));
    }

    /// @notice Every task type must back its capacity with stake: zero stake units per task is
    /// refused (capacity would be free and a shortfall would cost nothing).
    function test_registerTaskType_revertsOnZeroStakePerTask() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.ZeroStakePerTask.selector);
        registry.registerTaskType("x", token, PRICE, 0, 0);
        assertFalse(registry.exists(registry.taskTypeIdOf(creator, "x")));
    }

    /// @notice Stake units per task are stored in 32 bits: anything larger is refused, never
    /// truncated; the largest that fits is kept exactly.
    function test_registerTaskType_revertsWhenStakePerTaskTooLarge() public {
        uint256 tooLarge = uint256(type(uint32).max) + 1;
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.ValueTooLarge.selector, tooLarge));
        registry.registerTaskType("x", token, PRICE, 0, tooLarge);
        assertFalse(registry.exists(registry.taskTypeIdOf(creator, "x")));
        vm.prank(creator);
        bytes32 maxId = registry.registerTaskType("x", token, PRICE, 0, type(uint32).max);
        assertEq(registry.taskType(maxId).stakeUnitsPerTask, type(uint32).max);
    }

    function test_registerTaskType_revertsWhenExists() public {
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.TaskTypeExists.selector, id));
        registry.registerTaskType("llm", token, PRICE * 2, 0, STAKE_UNITS_PER_TASK);
        assertEq(registry.pricePerTask(id), PRICE, "unchanged");
    }

    // ---------------------------------------------------------------- sinks

    function test_registerSink_joinsWithZeroCapacityAndLocksStake() public {
        _stake(alice, 400e18);
        assertFalse(registry.isRegistered(id, alice));
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.SinkRegistered(id, alice, 20);
        _register(alice, id);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, alice);
        assertTrue(registry.isRegistered(id, alice));
        assertEq(s.index, 1, "position + 1");
        assertEq(s.smoothed, 0);
        assertEq(s.allowance, 20, "the whole cap, 400 stake units at 20 per task: nothing else is allotted");
        assertEq(s.backlog, 0);
        assertEq(s.pushed, 0);
        assertEq(s.nonce, 0);
        assertEq(s.lastUpdate, 0);
        assertEq(registry.allocatedCapacity(alice), 400, "in stake units: 20 tasks * 20");
        assertEq(registry.weightOf(id, alice), 0);
        assertEq(registry.sinksOf(id)[0], alice);
        assertEq(registry.taskType(id).sinkCount, 1);
        assertEq(registry.registrationsOf(alice)[0], id);
        assertEq(stakeManager.accountOf(alice).registrations, 1);
        assertEq(_units(id, alice), 0, "no units before the first reveal");
    }

    function test_registerSink_revertsOnUnknownType() public {
        _stake(alice, 400e18);
        bytes32 bogus = keccak256("bogus");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, bogus));
        registry.registerSink(bogus);
    }

    function test_registerSink_revertsTwice() public {
        _stake(alice, 400e18);
        _register(alice, id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AlreadyRegistered.selector, id, alice));
        registry.registerSink(id);
        assertEq(registry.taskType(id).sinkCount, 1);
        assertEq(stakeManager.accountOf(alice).registrations, 1);
    }

    function test_registerSink_revertsBelowMinimumStake() public {
        _stake(alice, 50e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.InsufficientStake.selector, 50e18, MIN_SINK_STAKE));
        registry.registerSink(id);
        assertEq(registry.taskType(id).sinkCount, 0);
    }

    function test_registerSink_revertsBeyondMaxTaskTypes() public {
        _stake(alice, 400e18); // cap 400 units: 20 tasks/epoch
        _register(alice, id);
        _setAllowance(alice, id, 1); // leave room for the others
        for (uint256 i = 1; i < MAX_TASK_TYPES_PER_SINK; ++i) {
            bytes32 next = _taskType(vm.toString(i), 0);
            _register(alice, next);
            assertEq(registry.sinkState(next, alice).allowance, 20 - i, "all that is left");
            _setAllowance(alice, next, 1);
        }
        assertEq(
            registry.allocatedCapacity(alice),
            MAX_TASK_TYPES_PER_SINK * STAKE_UNITS_PER_TASK,
            "room left: the count is what binds"
        );
        bytes32 extra = _taskType("one too many", 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.TooManyRegistrations.selector, MAX_TASK_TYPES_PER_SINK));
        registry.registerSink(extra);
        assertEq(registry.registrationsOf(alice).length, MAX_TASK_TYPES_PER_SINK);
        assertFalse(registry.isRegistered(extra, alice));
        assertEq(registry.allocatedCapacity(alice), MAX_TASK_TYPES_PER_SINK * STAKE_UNITS_PER_TASK);
    }

    /// @notice A registration's allowance is all the tasks the cap not yet allotted backs; with not
    /// one task's worth left, registering fails (one stake never backs more than its cap).
    function test_registerSink_revertsWhenNoCapacityLeft() public {
        bytes32 id2 = _taskType("second", 0);
        bytes32 id3 = _taskType("third", 0);
        _stake(alice, 400e18); // cap 400 units: 20 tasks
        _register(alice, id);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, 400, 400));
        registry.registerSink(id2);
        assertFalse(registry.isRegistered(id2, alice));
        assertEq(registry.taskType(id2).sinkCount, 0);
        assertEq(stakeManager.accountOf(alice).registrations, 1, "no lock taken");

        _setAllowance(alice, id, 15);
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.SinkRegistered(id2, alice, 5);
        _register(alice, id2);
        assertEq(registry.sinkState(id2, alice).allowance, 5, "the 5 left");
        assertEq(registry.allocatedCapacity(alice), 400);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, 400, 400));
        registry.registerSink(id3);
        // less than one task's worth of new stake is still no room: 19 units back 0 tasks
        _stake(alice, 19e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, 419, 400));
        registry.registerSink(id3);
        assertEq(registry.registrationsOf(alice).length, 2);
        _stake(alice, 1e18); // 420: exactly one task more
        _register(alice, id3);
        assertEq(registry.sinkState(id3, alice).allowance, 1, "one task");
        assertEq(registry.allocatedCapacity(alice), 420);
    }

    /// @notice More stake raises the cap; the new room goes to the next registration.
    function test_registerSink_getsTheRoomATopUpAdds() public {
        bytes32 id2 = _taskType("second", 0);
        _stake(alice, 400e18); // cap 400 units: 20 tasks
        _register(alice, id);
        _stake(alice, 500e18); // 900: cap 900 units, linear: the 500 more back 25 tasks more
        _register(alice, id2);
        assertEq(registry.sinkState(id, alice).allowance, 20, "the first registration keeps its allowance");
        assertEq(registry.sinkState(id2, alice).allowance, 25, "the new room: 500 units / 20");
        assertEq(registry.allocatedCapacity(alice), 900);
    }

    function test_deregisterSink_dropsCapacityUnitsAndUnlocks() public {
        address a = _sink("a", id, 400e18);
        address b = _sink("b", id, 400e18);
        address c = _sink("c", id, 400e18);
        _declareUntilSettled(a, id, 10);
        _declareUntilSettled(b, id, 12);
        _declareUntilSettled(c, id, 14);
        _commit(a, id, 5); // a pending commitment is dropped too
        _reportBacklog(a, id, 10); // weight 100 / 20 = 5
        assertEq(registry.totalCapacity(id), 36);
        assertEq(registry.totalWeight(id), 5 + 12 + 14);

        vm.expectEmit(true, true, false, false, address(registry));
        emit CapacityRegistry.SinkDeregistered(id, a);
        _deregister(a, id);

        assertEq(registry.totalCapacity(id), 26, "capacity drops at once");
        assertEq(registry.totalWeight(id), 26, "and the weight, backlog and all");
        assertEq(registry.taskType(id).sinkCount, 2);
        assertEq(_units(id, a), 0, "units drop in the same transaction");
        assertEq(registry.allocatedCapacity(a), 0, "the allowance is released");
        assertEq(registry.registrationsOf(a).length, 0);
        assertEq(registry.commitmentOf(id, a).hash, bytes32(0), "commitment dropped");
        assertFalse(registry.isRegistered(id, a));
        CapacityRegistry.SinkState memory gone = registry.sinkState(id, a);
        assertEq(gone.index, 0);
        assertEq(gone.allowance, 0);
        assertEq(gone.backlog, 0);
        assertEq(gone.pushed, 0);
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(registry.weightOf(id, a), 0);
        assertEq(stakeManager.accountOf(a).registrations, 0);
        // swap-and-pop kept the moved sink's index right
        address[] memory sinks = registry.sinksOf(id);
        assertEq(sinks.length, 2);
        assertEq(sinks[0], c);
        assertEq(sinks[1], b);
        assertEq(registry.sinkState(id, c).index, 1);
        assertEq(registry.sinkState(id, b).index, 2);
        // the moved sink can still leave cleanly
        _deregister(c, id);
        assertEq(registry.sinksOf(id)[0], b);
        assertEq(registry.sinkState(id, b).index, 1);
        assertEq(registry.totalCapacity(id), 12);
        assertEq(registry.totalWeight(id), 12);
    }

    /// @notice Leaving a task type frees its allowance for another one.
    function test_deregisterSink_freesTheAllowance() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 400e18);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, 400, 400));
        registry.registerSink(id2);
        _deregister(a, id);
        assertEq(registry.allocatedCapacity(a), 0);
        _register(a, id2);
        assertEq(registry.sinkState(id2, a).allowance, 20, "the whole cap again");
    }

    function test_deregisterSink_revertsOnUnknownType() public {
        bytes32 bogus = keccak256("bogus");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, bogus));
        registry.deregisterSink(bogus);
    }

    function test_deregisterSink_revertsWhenNotRegistered() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, alice));
        registry.deregisterSink(id);
    }

    function test_reregister_startsFromZero() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 10);
        _reportBacklog(a, id, 4);
        _setAllowance(a, id, 15);
        _deregister(a, id);
        _register(a, id);
        assertEq(registry.getSmoothedCapacity(id, a), 0, "no capacity carried over");
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.backlog, 0, "no backlog carried over");
        assertEq(s.allowance, 20, "the allowance is the free cap again, not the old one");
        assertEq(s.lastUpdate, 0, "no rate limit carried over");
        _declare(a, id, 10);
        assertEq(registry.getSmoothedCapacity(id, a), 3, "the EWMA starts again from zero");
    }

    // ---------------------------------------------------------------- EWMA and cap

    function test_declare_ewmaSteps() public {
        address a = _sink("a", id, 400e18);
        uint256[5] memory expected = [uint256(3), 6, 8, 9, 10]; // ceil(0.3*10 + 0.7*prev)
        for (uint256 i; i < 5; ++i) {
            _declare(a, id, 10);
            assertEq(registry.getSmoothedCapacity(id, a), expected[i]);
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        }
        // and down again, rounding down so it reaches zero
        uint256[5] memory down = [uint256(7), 4, 2, 1, 0];
        for (uint256 i; i < 5; ++i) {
            _declare(a, id, 0);
            assertEq(registry.getSmoothedCapacity(id, a), down[i]);
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        }
        assertEq(_units(id, a), 0);
    }

    function test_declare_emitsRevealAndSetsState() public {
        address a = _sink("a", id, 400e18);
        bytes32 nonce = _commit(a, id, 10);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 10, 3);
        vm.prank(a);
        registry.revealCapacity(id, 10, nonce);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.smoothed, 3);
        assertEq(s.allowance, 20, "a declaration does not touch the allowance");
        assertEq(s.pushed, 3, "0 -> 3 leaves the deadband: pushed");
        assertEq(s.lastUpdate, block.timestamp);
        assertEq(registry.allocatedCapacity(a), 400, "the allowance is what the stake backs (20 tasks * 20 units)");
        assertEq(registry.totalCapacity(id), 3);
        assertEq(registry.totalWeight(id), 3, "no backlog: weight == capacity");
        assertEq(_units(id, a), 3 * UNIT_SCALE);
    }

    function test_declare_cappedByStake() public {
        address a = _sink("a", id, 400e18); // cap 400 units = 20 tasks, all of it the allowance
        bytes32 nonce = _commit(a, id, 1_000);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 20, 6); // declaration capped at 400 / 20
        vm.prank(a);
        registry.revealCapacity(id, 1_000, nonce);
        assertEq(registry.sinkState(id, a).smoothed, 6);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declareUntilSettled(a, id, 20);
        assertEq(registry.getSmoothedCapacity(id, a), 20);
        // and never beyond, however often it is declared
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 1_000);
        assertEq(registry.getSmoothedCapacity(id, a), 20);
    }

    /// @notice A declaration is capped by the registration's allowance, not only by the stake.
    function test_declare_cappedByTheAllowance() public {
        address a = _sink("a", id, 400e18); // cap 20 tasks
        _setAllowance(a, id, 7);
        bytes32 nonce = _commit(a, id, 20);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 7, 3); // ceil(0.3 * 7)
        vm.prank(a);
        registry.revealCapacity(id, 20, nonce);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declareUntilSettled(a, id, 7);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 20);
        assertEq(registry.getSmoothedCapacity(id, a), 7, "held at the allowance");
        assertLe(registry.getSmoothedCapacity(id, a), registry.sinkState(id, a).allowance);
    }

    /// @notice One cap, shared through allowances: each type's declarations are capped by its own
    /// allowance, and cap moves between types only by setAllowance (lowering one first).
    function test_declare_capSharedAcrossTaskTypes() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 400e18); // cap 400 units: 20 tasks
        _setAllowance(a, id, 15);
        _register(a, id2);
        _connect(a, id2);
        assertEq(registry.sinkState(id2, a).allowance, 5, "only the room left by the other type");
        _declareUntilSettled(a, id, 15);
        bytes32 nonce = _commit(a, id2, 15);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id2, a, 5, 2); // capped at 5; ceil(0.3 * 5)
        vm.prank(a);
        registry.revealCapacity(id2, 15, nonce);
        assertEq(registry.allocatedCapacity(a), 400);
        assertEq(_allotted(a), registry.allocatedCapacity(a));
        assertLe(_claimed(a), stakeManager.getCapacityCap(a));

        // raising the second type first is refused: the cap is all allotted ((15 + 10) * 20 > 400)
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 500, 400));
        registry.setAllowance(id2, 10);
        // lowering the first drops its capacity at once, and frees the room
        _setAllowance(a, id, 10);
        assertEq(registry.getSmoothedCapacity(id, a), 10, "15 -> 10 at once, no EWMA");
        assertEq(_units(id, a), 10 * UNIT_SCALE);
        _setAllowance(a, id2, 10);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        nonce = _commit(a, id2, 15);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id2, a, 10, 5); // capped at 10; ceil(3 + 0.7 * 2)
        vm.prank(a);
        registry.revealCapacity(id2, 15, nonce);
        assertEq(_allotted(a), registry.allocatedCapacity(a));
        assertEq(registry.allocatedCapacity(a), 400);
        assertLe(_claimed(a), 400);
    }

    /// @notice More stake raises the cap, and the sink claims the new room for a registration
    /// with setAllowance; until then its declarations stay capped by the old allowance.
    function test_declare_moreStakeRaisesTheCap() public {
        address a = _sink("a", id, 100e18); // the minimum stake: cap 100 units, 5 tasks
        bytes32 nonce = _commit(a, id, 30);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 5, 2); // capped at 5; ceil(0.3 * 5)
        vm.prank(a);
        registry.revealCapacity(id, 30, nonce);
        _stake(a, 800e18); // 900 -> cap 900 units: 45 tasks
        assertEq(stakeManager.getCapacityCap(a), 900);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 920, 900));
        registry.setAllowance(id, 46);
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.AllowanceSet(id, a, 45);
        _setAllowance(a, id, 45);
        assertEq(registry.allocatedCapacity(a), 900);
        assertEq(registry.getSmoothedCapacity(id, a), 2, "a higher allowance does not raise the capacity");
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        nonce = _commit(a, id, 30);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 30, 11); // no longer capped; ceil(9 + 1.4)
        vm.prank(a);
        registry.revealCapacity(id, 30, nonce);
    }

    function test_declare_revertsWhenTooFrequent() public {
        address a = _sink("a", id, 400e18);
        _declare(a, id, 10);
        uint256 next = block.timestamp + MIN_UPDATE_INTERVAL;
        vm.warp(next - 1);
        bytes32 nonce = _commit(a, id, 20);
        vm.roll(block.number + 1);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UpdateTooFrequent.selector, next));
        registry.revealCapacity(id, 20, nonce);
        assertEq(registry.getSmoothedCapacity(id, a), 3, "unchanged");
        assertEq(registry.commitmentOf(id, a).hash != bytes32(0), true, "commitment kept for a later reveal");
        vm.warp(next);
        vm.prank(a);
        registry.revealCapacity(id, 20, nonce);
        assertEq(registry.getSmoothedCapacity(id, a), 9, "ceil(0.3*20 + 0.7*3)");
    }

    function test_declare_revertsWhenTooLarge() public {
        address a = _sink("a", id, 400e18);
        uint256 huge = registry.MAX_VALUE() + 1;
        bytes32 nonce = _commit(a, id, huge);
        vm.roll(block.number + 1);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.ValueTooLarge.selector, huge));
        registry.revealCapacity(id, huge, nonce);
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(registry.sinkState(id, a).lastUpdate, 0, "no step taken");
        // MAX_VALUE itself is accepted (and capped by the allowance)
        uint256 max = registry.MAX_VALUE();
        vm.roll(block.number + COMMIT_TIMEOUT + 1);
        bytes32 nonce2 = _commit(a, id, max);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id, a, 20, 6);
        vm.prank(a);
        registry.revealCapacity(id, max, nonce2);
        assertEq(registry.getSmoothedCapacity(id, a), 6);
    }

    // ---------------------------------------------------------------- stake changes

    function test_onStakeChanged_onlyStakeManager() public {
        address a = _sink("a", id, 400e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotStakeManager.selector, alice));
        registry.onStakeChanged(a);
    }

    /// @notice A slash scales every allowance and every smoothed capacity of the sink by
    /// cap / allocated (rounding down); units follow the new weights in the same transaction.
    function test_onStakeChanged_scalesEveryRegistrationWithinTheCap() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 400e18); // cap 400 units: 20 tasks
        _setAllowance(a, id, 12);
        _register(a, id2);
        _connect(a, id2);
        _declareUntilSettled(a, id, 10); // below its allowance of 12
        _declareUntilSettled(a, id2, 8); // at its allowance of 8
        _reportBacklog(a, id2, 8); // weight 64 / 16 = 4
        assertEq(registry.allocatedCapacity(a), 400);
        assertEq(registry.weightOf(id2, a), 4);

        // 400 -> 200: cap 200 units, so everything halves (rounding down)
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id, a, 6, 5);
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id2, a, 4, 4);
        vm.prank(slasher);
        stakeManager.slash(a, 200e18, "x");

        assertEq(stakeManager.getCapacityCap(a), 200);
        assertEq(registry.sinkState(id, a).allowance, 6);
        assertEq(registry.sinkState(id2, a).allowance, 4);
        assertEq(registry.allocatedCapacity(a), 200, "allowances back within the cap: (6 + 4) * 20");
        assertEq(registry.getSmoothedCapacity(id, a), 5);
        assertEq(registry.getSmoothedCapacity(id2, a), 4);
        assertEq(registry.totalCapacity(id), 5);
        assertEq(registry.totalCapacity(id2), 4);
        assertEq(registry.weightOf(id2, a), 1, "16 / (4 + 8): the backlog stays");
        assertEq(registry.totalWeight(id), 5);
        assertEq(registry.totalWeight(id2), 1);
        assertEq(_units(id, a), 5 * UNIT_SCALE, "units follow in the same transaction");
        assertEq(_units(id2, a), 1 * UNIT_SCALE, "by weight");
    }

    /// @notice The scaling applies to the allowances, not only to what is in use: an unused
    /// allowance above the new cap shrinks the capacity in proportion too.
    function test_onStakeChanged_scalesByTheAllocationNotTheUse() public {
        address a = _sink("a", id, 400e18); // cap 400 units, allowance 20 tasks
        _declareUntilSettled(a, id, 10);
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id, a, 17, 8); // 20 * 340 / 400, floor(10 * 340 / 400)
        vm.prank(slasher);
        stakeManager.slash(a, 60e18, "x"); // 340: cap 340 units
        assertEq(registry.allocatedCapacity(a), 340, "17 tasks * 20");
        assertEq(registry.getSmoothedCapacity(id, a), 8);
        assertEq(_units(id, a), 8 * UNIT_SCALE);
    }

    function test_onStakeChanged_noopWhileWithinTheCap() public {
        address a = _sink("a", id, 400e18);
        _setAllowance(a, id, 10);
        _declareUntilSettled(a, id, 10);
        vm.recordLogs();
        vm.prank(slasher);
        stakeManager.slash(a, 100e18, "x"); // cap 400 -> 300 units, still >= the 200 allotted (10 tasks)
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(registry), "no CapacityCapped");
            assertTrue(logs[i].emitter != address(bpPool), "no unit change");
        }
        assertEq(registry.getSmoothedCapacity(id, a), 10);
        assertEq(registry.sinkState(id, a).allowance, 10);
        assertEq(registry.allocatedCapacity(a), 200);
    }

    function test_onStakeChanged_belowMinimumZeroesCapacity() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 10);
        vm.prank(slasher);
        stakeManager.slash(a, 301e18, "x"); // 99 tokens: below the minimum, cap 0
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(registry.sinkState(id, a).allowance, 0);
        assertEq(registry.allocatedCapacity(a), 0);
        assertEq(registry.totalCapacity(id), 0);
        assertEq(registry.totalWeight(id), 0);
        assertEq(_units(id, a), 0);
        assertTrue(registry.isRegistered(id, a), "still registered, just worthless");
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 20, 0));
        registry.setAllowance(id, 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 10);
        assertEq(registry.getSmoothedCapacity(id, a), 0, "declarations capped at the zero allowance");
        // staking back up and claiming the room restores it
        _stake(a, 301e18);
        _setAllowance(a, id, 20);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 10);
        assertEq(registry.getSmoothedCapacity(id, a), 3);
    }

    // ---------------------------------------------------------------- allowances

    /// @notice Lowering an allowance lowers the smoothed capacity at once, units included even
    /// inside the deadband (forced), and takes no EWMA step: the rate limit is not consumed.
    function test_setAllowance_lowersCapacityAtOnce() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 20);
        uint256 lastUpdate = registry.sinkState(id, a).lastUpdate;
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.AllowanceSet(id, a, 19);
        vm.expectEmit(true, true, false, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, a, 19 * UNIT_SCALE);
        _setAllowance(a, id, 19); // 5 %: inside the deadband, pushed anyway
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.allowance, 19);
        assertEq(s.smoothed, 19);
        assertEq(s.pushed, 19);
        assertEq(s.lastUpdate, lastUpdate, "no EWMA step");
        assertEq(_units(id, a), 19 * UNIT_SCALE);
        assertEq(registry.totalCapacity(id), 19);
        assertEq(registry.totalWeight(id), 19);
        assertEq(registry.allocatedCapacity(a), 380, "one task of cap freed: 20 stake units");
        // not rate-limited: again in the same block, down to zero
        _setAllowance(a, id, 0);
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(_units(id, a), 0);
        assertEq(registry.totalCapacity(id), 0);
        assertEq(registry.allocatedCapacity(a), 0);
        assertTrue(registry.isRegistered(id, a), "a zero allowance is still a registration");
    }

    /// @notice Raising an allowance claims room, not capacity: the capacity grows only by
    /// declarations, so nothing moves in the pool.
    function test_setAllowance_raisingMovesNoCapacity() public {
        address a = _sink("a", id, 400e18);
        _setAllowance(a, id, 10);
        _declareUntilSettled(a, id, 10);
        vm.recordLogs();
        _setAllowance(a, id, 20);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "only AllowanceSet");
        assertEq(logs[0].topics[0], CapacityRegistry.AllowanceSet.selector);
        assertEq(registry.getSmoothedCapacity(id, a), 10);
        assertEq(registry.sinkState(id, a).allowance, 20);
        assertEq(registry.allocatedCapacity(a), 400);
        assertEq(_units(id, a), 10 * UNIT_SCALE);
    }

    /// @notice A lowered capacity keeps its backlog: the new weight is C'^2 / (C' + backlog).
    function test_setAllowance_keepsTheBacklog() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 20);
        _reportBacklog(a, id, 20);
        assertEq(registry.weightOf(id, a), 10);
        _setAllowance(a, id, 10);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 10);
        assertEq(backlog, 20);
        assertEq(registry.weightOf(id, a), 3, "100 / 30");
        assertEq(registry.totalWeight(id), 3);
        assertEq(_units(id, a), 3 * UNIT_SCALE);
    }

    function test_setAllowance_reverts() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 10);
        bytes32 bogus = keccak256("bogus");
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, bogus));
        registry.setAllowance(bogus, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, alice));
        registry.setAllowance(id, 1);
        uint256 huge = registry.MAX_VALUE() + 1;
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.ValueTooLarge.selector, huge));
        registry.setAllowance(id, huge);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 420, 400));
        registry.setAllowance(id, 21);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.allowance, 20, "unchanged");
        assertEq(s.smoothed, 10);
        assertEq(registry.allocatedCapacity(a), 400);
    }

    /// @notice The cap check counts the sink's other allowances.
    function test_setAllowance_countsTheOtherTaskTypes() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 900e18); // cap 900 units: 45 tasks
        _setAllowance(a, id, 18);
        _register(a, id2); // (900 - 360) / 20 = 27
        assertEq(registry.sinkState(id2, a).allowance, 27);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 920, 900));
        registry.setAllowance(id, 19);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 920, 900));
        registry.setAllowance(id2, 28);
        _setAllowance(a, id2, 2);
        _setAllowance(a, id, 43);
        assertEq(registry.allocatedCapacity(a), 900);
        assertEq(_allotted(a), 900);
    }

    // ---------------------------------------------------------------- backlog

    /// @notice A backlog lowers the sink's weight C^2 / (C + backlog) at once, so it gets a
    /// smaller share of the stream; its capacity is untouched.
    function test_reportBacklog_lowersTheWeightAndTheShare() public {
        address a = _sink("a", id, 400e18);
        address b = _sink("b", id, 400e18);
        _declareUntilSettled(a, id, 20);
        _declareUntilSettled(b, id, 20);
        address src = _source("src", 1_000_000e18);
        _stream(src, id, _rate(20));
        assertEq(_memberRate(id, a), _memberRate(id, b), "equal shares");
        uint256 lastUpdate = registry.sinkState(id, a).lastUpdate;

        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.BacklogReported(id, a, 20);
        _reportBacklog(a, id, 20);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 20, "capacity untouched");
        assertEq(backlog, 20);
        assertEq(registry.weightOf(id, a), 10, "400 / 40");
        assertEq(registry.sinkState(id, a).pushed, 10);
        assertEq(registry.sinkState(id, a).lastUpdate, lastUpdate, "no EWMA step");
        assertEq(registry.totalCapacity(id), 40);
        assertEq(registry.totalWeight(id), 30);
        assertEq(_units(id, a), 10 * UNIT_SCALE);
        assertEq(_units(id, b), 20 * UNIT_SCALE, "the other sink untouched");
        // shares 10 : 20
        assertApproxEqAbs(2 * _memberRate(id, a), _memberRate(id, b), 2 * 30 * UNIT_SCALE);
        assertLt(_memberRate(id, a), _memberRate(id, b));
    }

    /// @notice Backlog reports are not rate-limited (they only move the reporter's own weight), and
    /// the deadband applies to the weight they produce.
    function test_reportBacklog_notRateLimitedAndDeadbanded() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 20);
        _reportBacklog(a, id, 1); // 400 / 21 = 19: 5 %, inside the deadband
        assertEq(registry.weightOf(id, a), 19);
        assertEq(registry.totalWeight(id), 19, "the total is exact whatever the pool has");
        assertEq(registry.sinkState(id, a).pushed, 20, "not pushed");
        assertEq(_units(id, a), 20 * UNIT_SCALE);
        _reportBacklog(a, id, 4); // 400 / 24 = 16: pushed
        assertEq(_units(id, a), 16 * UNIT_SCALE);
        _reportBacklog(a, id, 0); // same block: fine
        assertEq(_units(id, a), 20 * UNIT_SCALE);
        assertEq(registry.totalWeight(id), 20);
    }

    /// @notice Only the sink itself reports its backlog.
    function test_reportBacklog_onlyTheSinkItself() public {
        address a = _sink("a", id, 400e18);
        address b = _sink("b", id, 400e18);
        _declareUntilSettled(a, id, 20);
        _declareUntilSettled(b, id, 20);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, alice));
        registry.reportBacklog(id, 100);
        bytes32 bogus = keccak256("bogus");
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UnknownTaskType.selector, bogus));
        registry.reportBacklog(bogus, 100);
        _reportBacklog(b, id, 100); // b's report is about b
        (, uint256 backlogA) = registry.signalOf(id, a);
        (, uint256 backlogB) = registry.signalOf(id, b);
        assertEq(backlogA, 0);
        assertEq(backlogB, 100);
        assertEq(registry.weightOf(id, a), 20);
        assertEq(registry.weightOf(id, b), 3, "400 / 120");
    }

    function test_reportBacklog_revertsWhenTooLarge() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 20);
        uint256 huge = registry.MAX_VALUE() + 1;
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.ValueTooLarge.selector, huge));
        registry.reportBacklog(id, huge);
        assertEq(registry.sinkState(id, a).backlog, 0);
        // MAX_VALUE itself is accepted: the weight falls to zero, the capacity stays
        _reportBacklog(a, id, registry.MAX_VALUE());
        assertEq(registry.weightOf(id, a), 0);
        assertEq(_units(id, a), 0);
        assertEq(registry.getSmoothedCapacity(id, a), 20);
        assertEq(registry.totalWeight(id), 0);
    }

    /// @notice The backlog persists across declarations until the sink reports another one, and
    /// a backlog without capacity weighs nothing.
    function test_reportBacklog_keptAcrossDeclarations() public {
        address a = _sink("a", id, 400e18);
        vm.recordLogs();
        _reportBacklog(a, id, 10);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "no capacity, no weight: nothing pushed");
        assertEq(registry.weightOf(id, a), 0);
        _declareUntilSettled(a, id, 10);
        assertEq(registry.weightOf(id, a), 5, "100 / 20");
        assertEq(_units(id, a), 5 * UNIT_SCALE);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 20); // ceil(6 + 7) = 13
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 13);
        assertEq(backlog, 10, "kept");
        assertEq(registry.weightOf(id, a), 7, "169 / 23");
        assertEq(_units(id, a), 7 * UNIT_SCALE);
    }

    // ---------------------------------------------------------------- attestations (registry side)

    function test_applyAttestation_onlyTheAggregator() public {
        address a = _sink("a", id, 400e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotAggregator.selector, alice));
        registry.applyAttestations(id, abi.encodePacked(a, uint64(10), uint64(0), uint32(1)));
        vm.prank(a); // not even the sink itself: its path is commit-reveal
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotAggregator.selector, a));
        registry.applyAttestations(id, abi.encodePacked(a, uint64(10), uint64(0), uint32(1)));
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.smoothed, 0);
        assertEq(s.nonce, 0);
        assertEq(s.lastUpdate, 0);
    }

    /// @notice An attestation is a declaration plus a backlog: same allowance cap, EWMA step and
    /// rate limit as a reveal, with its nonce recorded and no CapacityRevealed event.
    function test_applyAttestation_stepsLikeARevealWithItsBacklog() public {
        address a = _sink("a", id, 400e18);
        vm.recordLogs();
        vm.prank(address(aggregator));
        ICapacityRegistry.Rejection r = _applyOne(id, a, 1_000, 5, 7);
        assertEq(uint256(r), uint256(ICapacityRegistry.Rejection.None));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(registry), "no registry event for a relayed attestation");
        }
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.smoothed, 6, "capped at the allowance of 20, one EWMA step");
        assertEq(s.backlog, 5);
        assertEq(s.nonce, 7);
        assertEq(s.lastUpdate, block.timestamp);
        assertEq(registry.weightOf(id, a), 3, "36 / 11");
        assertEq(_units(id, a), 3 * UNIT_SCALE);
        assertEq(registry.totalCapacity(id), 6);
        assertEq(registry.totalWeight(id), 3);
        // the rate limit is shared with commit-reveal
        bytes32 nonce = _commit(a, id, 20);
        vm.roll(block.number + 1);
        vm.prank(a);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.UpdateTooFrequent.selector, block.timestamp + MIN_UPDATE_INTERVAL)
        );
        registry.revealCapacity(id, 20, nonce);
    }

    /// @notice Item-level problems are reported, never reverted, and change nothing.
    function test_applyAttestation_rejectsWithoutReverting() public {
        address a = _sink("a", id, 400e18);
        vm.startPrank(address(aggregator));
        assertEq(
            uint256(_applyOne(id, alice, 10, 0, 1)), uint256(ICapacityRegistry.Rejection.NotRegistered)
        );
        assertEq(
            uint256(_applyOne(keccak256("bogus"), a, 10, 0, 1)),
            uint256(ICapacityRegistry.Rejection.NotRegistered)
        );
        assertEq(
            uint256(_applyOne(id, a, 10, 0, 0)), uint256(ICapacityRegistry.Rejection.NonceNotIncreasing)
        );
        uint256 tooLarge = registry.MAX_VALUE() + 1;
        assertEq(
            uint256(_applyOne(id, a, tooLarge, 0, 1)), uint256(ICapacityRegistry.Rejection.OutOfRange)
        );
        assertEq(
            uint256(_applyOne(id, a, 10, tooLarge, 1)), uint256(ICapacityRegistry.Rejection.OutOfRange)
        );
        // (a nonce beyond uint32 cannot be expressed: it is 4 bytes of the record)
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.smoothed + s.backlog + s.nonce + s.lastUpdate, 0, "nothing applied");

        assertEq(uint256(_applyOne(id, a, 10, 0, 2)), uint256(ICapacityRegistry.Rejection.None));
        assertEq(
            uint256(_applyOne(id, a, 10, 0, 2)), uint256(ICapacityRegistry.Rejection.NonceNotIncreasing)
        );
        assertEq(uint256(_applyOne(id, a, 10, 0, 3)), uint256(ICapacityRegistry.Rejection.TooFrequent));
        assertEq(registry.sinkState(id, a).nonce, 2, "a rejected nonce is not consumed");
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        assertEq(uint256(_applyOne(id, a, 10, 0, 3)), uint256(ICapacityRegistry.Rejection.None));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        assertEq(
            uint256(_applyOne(id, a, 10, 0, type(uint32).max)),
            uint256(ICapacityRegistry.Rejection.None),
            "nonces may skip, up to uint32 max"
        );
        vm.stopPrank();
        assertEq(registry.sinkState(id, a).nonce, type(uint32).max);
        assertEq(registry.getSmoothedCapacity(id, a), 8, "3, 6, 8");
    }

    /// @notice One slot holds a registration: every field at its largest value reads back exactly,
    /// without bleeding into its neighbours, through every path that writes the slot.
    function test_sinkState_slotHoldsExtremeValues() public {
        uint256 max = registry.MAX_VALUE();
        address whale = makeAddr("whale");
        // cap (2^40) * 20 units = 2^40 tasks: the allowance is capped at MAX_VALUE
        _stake(whale, (max + 1) * STAKE_UNITS_PER_TASK * STAKE_UNIT);
        _register(whale, id);
        _connect(whale, id);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, whale);
        assertEq(s.allowance, max, "allowance capped at what a slot holds");
        assertEq(registry.allocatedCapacity(whale), max * STAKE_UNITS_PER_TASK);

        vm.warp(type(uint32).max - 1); // the latest timestamp a slot's lastUpdate holds
        vm.prank(address(aggregator));
        _applyOne(id, whale, max, max, type(uint32).max);
        s = registry.sinkState(id, whale);
        uint256 smoothed = CapacityMath.ewma(0, max, EWMA_ALPHA_BPS);
        assertEq(s.index, 1);
        assertEq(s.lastUpdate, type(uint32).max - 1);
        assertEq(s.smoothed, smoothed);
        assertEq(s.allowance, max);
        assertEq(s.backlog, max);
        assertEq(s.pushed, CapacityMath.queueWeight(smoothed, max, QUEUE_PREMIUM_BPS));
        assertEq(s.nonce, type(uint32).max);
        assertEq(registry.totalCapacity(id), smoothed);

        _reportBacklog(whale, id, 0);
        s = registry.sinkState(id, whale);
        assertEq(s.backlog, 0);
        assertEq(s.pushed, smoothed, "no backlog: pushed the capacity");
        assertEq(s.nonce, type(uint32).max, "neighbours intact");
        assertEq(s.allowance, max);
        assertEq(s.lastUpdate, type(uint32).max - 1);
        assertEq(_units(id, whale), smoothed * UNIT_SCALE);
        _setAllowance(whale, id, max - 1);
        s = registry.sinkState(id, whale);
        assertEq(s.allowance, max - 1);
        assertEq(s.smoothed, smoothed);
        assertEq(s.index, 1);
    }

    // ---------------------------------------------------------------- views

    function test_views_unknownAndUnregistered() public view {
        bytes32 bogus = keccak256("bogus");
        assertFalse(registry.exists(bogus));
        assertEq(registry.totalCapacity(bogus), 0);
        assertEq(registry.totalWeight(bogus), 0);
        assertEq(registry.pricePerTask(bogus), 0);
        assertEq(registry.taskType(bogus).creator, address(0));
        assertEq(registry.sinksOf(bogus).length, 0);
        assertEq(registry.getSmoothedCapacity(id, alice), 0);
        assertEq(registry.weightOf(id, alice), 0);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, alice);
        assertEq(capacity + backlog, 0);
        assertFalse(registry.isRegistered(id, alice));
        assertFalse(registry.isRegistered(bogus, alice));
        assertEq(registry.allocatedCapacity(alice), 0);
        assertEq(registry.registrationsOf(alice).length, 0);
        assertEq(registry.commitmentOf(id, alice).hash, bytes32(0));
    }

    // ---------------------------------------------------------------- fuzz: caps and totals

    /// @notice Random stakes, allowance splits over up to three task types, declarations,
    /// backlog reports, allowance moves (valid and over the cap) and a random slash: for every
    /// sink, allocatedCapacity == sum of allowances * stake units per task <= cap and smoothed <=
    /// allowance; per type,
    /// totalCapacity == sum of smoothed and totalWeight == sum of weightOf; units == pushed * scale
    /// with the pushed weight within the deadband of the weight (exactly the weight after a forced
    /// update such as a slash).
    /// forge-config: default.fuzz.runs = 256
    function testFuzz_capsTotalsAndUnits(uint256 seed, uint96[3] memory stakes, uint256 slashAmount) public {
        bytes32[3] memory ids = [id, _taskType("b", 0), _taskType("c", 0)];
        address[3] memory sinks;
        for (uint256 i; i < 3; ++i) {
            sinks[i] = _sink(string.concat("s", vm.toString(i)), ids[i], bound(stakes[i], MIN_SINK_STAKE, 5_000e18));
            for (uint256 j; j < 3; ++j) {
                uint256 r = uint256(keccak256(abi.encode(seed, i, j)));
                if (j != i && r % 2 == 0) {
                    // give the new type part of the primary's allowance (at least 1, at most half)
                    uint256 primary = registry.sinkState(ids[i], sinks[i]).allowance;
                    uint256 give = 1 + (r >> 8) % (primary / 2);
                    _setAllowance(sinks[i], ids[i], primary - give);
                    _register(sinks[i], ids[j]);
                    _connect(sinks[i], ids[j]);
                    assertEq(registry.sinkState(ids[j], sinks[i]).allowance, give, "the freed cap");
                }
            }
        }
        for (uint256 round; round < 6; ++round) {
            for (uint256 i; i < 3; ++i) {
                bytes32[] memory regs = registry.registrationsOf(sinks[i]);
                uint256 r = uint256(keccak256(abi.encode(seed, round, i)));
                bytes32 t = regs[r % regs.length];
                uint256 op = (r >> 64) % 8;
                if (op == 0) {
                    _reportBacklog(sinks[i], t, (r >> 8) % 120);
                } else if (op == 1) {
                    _fuzzAllowance(sinks[i], t, r >> 8);
                } else {
                    _declare(sinks[i], t, (r >> 8) % 300);
                }
            }
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
            _checkCapsAndTotals(ids, sinks, address(0));
        }
        address victim = sinks[seed % 3];
        uint256 amount = bound(slashAmount, 1, stakeManager.getStake(victim));
        uint256 allocated = registry.allocatedCapacity(victim);
        vm.prank(slasher);
        stakeManager.slash(victim, amount, "fuzz");
        // the registry re-applies the cap (forcing the units) only when the allowances exceed it
        bool forced = allocated > stakeManager.getCapacityCap(victim);
        if (!forced) assertEq(registry.allocatedCapacity(victim), allocated, "within the cap: untouched");
        _checkCapsAndTotals(ids, sinks, forced ? victim : address(0));
    }

    /// @dev Moves a random amount of cap to or from registration `t`: within the cap it must
    /// succeed, beyond it it must revert with AllowanceExceedsCap and change nothing.
    function _fuzzAllowance(address sink, bytes32 t, uint256 r) internal {
        uint256 cap = stakeManager.getCapacityCap(sink);
        uint256 perTask = registry.taskType(t).stakeUnitsPerTask;
        uint256 others = registry.allocatedCapacity(sink) - uint256(registry.sinkState(t, sink).allowance) * perTask;
        uint256 allowance = r % ((cap - others) / perTask + 3); // up to two tasks over the room
        if (others + allowance * perTask > cap) {
            vm.prank(sink);
            vm.expectRevert(
                abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, others + allowance * perTask, cap)
            );
            registry.setAllowance(t, allowance);
        } else {
            uint256 smoothed = registry.getSmoothedCapacity(t, sink);
            _setAllowance(sink, t, allowance);
            assertEq(registry.getSmoothedCapacity(t, sink), smoothed < allowance ? smoothed : allowance);
            assertEq(_units(t, sink), registry.weightOf(t, sink) * UNIT_SCALE, "forced: exact");
        }
    }

    function _checkCapsAndTotals(bytes32[3] memory ids, address[3] memory sinks, address slashed) internal view {
        for (uint256 i; i < 3; ++i) {
            assertEq(_allotted(sinks[i]), registry.allocatedCapacity(sinks[i]), "allocated is exact");
            assertLe(_allotted(sinks[i]), stakeManager.getCapacityCap(sinks[i]), "within the stake cap");
            assertLe(_claimed(sinks[i]), _allotted(sinks[i]), "capacity within the allowances");
            assertEq(registry.totalCapacity(ids[i]), _sumSmoothed(ids[i]), "totalCapacity exact");
            assertEq(registry.totalWeight(ids[i]), _sumWeights(ids[i]), "totalWeight exact");
            address[] memory members = registry.sinksOf(ids[i]);
            for (uint256 j; j < members.length; ++j) {
                CapacityRegistry.SinkState memory s = registry.sinkState(ids[i], members[j]);
                assertLe(s.smoothed, s.allowance, "smoothed <= allowance");
                uint256 weight = registry.weightOf(ids[i], members[j]);
                assertEq(weight, _weight(s.smoothed, s.backlog), "weight C^2 / (C + backlog)");
                assertLe(weight, s.smoothed, "a backlog never raises the weight");
                uint256 units = _units(ids[i], members[j]);
                assertEq(units, uint256(s.pushed) * UNIT_SCALE, "units == pushed weight * scale");
                assertFalse(CapacityMath.outsideDeadband(s.pushed, weight, REBALANCE_THRESHOLD_BPS), "units follow");
                if (members[j] == slashed) assertEq(units, weight * UNIT_SCALE, "forced by the slash: exact");
            }
        }
    }
}
