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

    /// @dev Sum over the sink's task types of max(raw, smoothed): what its stake must back.
    function _backed(address sink) internal view returns (uint256 sum) {
        bytes32[] memory regs = registry.registrationsOf(sink);
        for (uint256 i; i < regs.length; ++i) {
            CapacityRegistry.SinkState memory s = registry.sinkState(regs[i], sink);
            sum += s.raw > s.smoothed ? s.raw : s.smoothed;
        }
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
    }

    // ---------------------------------------------------------------- task types

    function test_registerTaskType_createsTypeAndPool() public {
        _stake(alice, MIN_SINK_STAKE);
        bytes32 expected = keccak256(abi.encode(alice, "vision"));
        assertEq(registry.taskTypeIdOf(alice, "vision"), expected);
        vm.recordLogs();
        vm.prank(alice);
        bytes32 newId = registry.registerTaskType("vision", token, 7e14, 5e18);
        assertEq(newId, expected);

        ICapacityRegistry.TaskType memory t = registry.taskType(newId);
        assertEq(t.creator, alice);
        assertEq(address(t.token), address(token));
        assertEq(t.pricePerTask, 7e14);
        assertEq(t.bufferMax, 5e18);
        assertEq(t.totalCapacity, 0);
        assertEq(t.sinkCount, 0);
        assertTrue(registry.exists(newId));
        assertEq(registry.pricePerTask(newId), 7e14);
        assertEq(registry.totalCapacity(newId), 0);
        assertEq(registry.sinksOf(newId).length, 0);
        address pool = bpPool.getPool(newId);
        assertTrue(pool != address(0), "pool created");
        assertEq(stakeManager.accountOf(alice).registrations, 0, "creating a type locks no stake");

        // TaskTypeRegistered(id, creator, token, pool, price, bufferMax, name)
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(registry)) continue;
            assertEq(logs[i].topics[0], CapacityRegistry.TaskTypeRegistered.selector);
            assertEq(logs[i].topics[1], newId);
            assertEq(logs[i].topics[2], bytes32(uint256(uint160(alice))));
            (ISuperToken tk, address p, uint256 price, uint256 maxBuffer, string memory name) =
                abi.decode(logs[i].data, (ISuperToken, address, uint256, uint256, string));
            assertEq(address(tk), address(token));
            assertEq(p, pool);
            assertEq(price, 7e14);
            assertEq(maxBuffer, 5e18);
            assertEq(name, "vision");
            seen = true;
        }
        assertTrue(seen, "TaskTypeRegistered emitted");
    }

    function test_registerTaskType_sameNameDifferentCreatorsDistinct() public {
        _stake(alice, MIN_SINK_STAKE);
        vm.prank(alice);
        bytes32 other = registry.registerTaskType("llm", token, PRICE, 0);
        assertTrue(other != id, "ids bound to the creator: no squatting");
        assertTrue(bpPool.getPool(other) != bpPool.getPool(id));
    }

    function test_registerTaskType_revertsOnEmptyName() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.EmptyName.selector);
        registry.registerTaskType("", token, PRICE, 0);
    }

    function test_registerTaskType_revertsOnZeroToken() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.ZeroAddress.selector);
        registry.registerTaskType("x", ISuperToken(address(0)), PRICE, 0);
    }

    function test_registerTaskType_revertsOnZeroPrice() public {
        vm.prank(creator);
        vm.expectRevert(CapacityRegistry.ZeroPrice.selector);
        registry.registerTaskType("x", token, 0, 0);
    }

    function test_registerTaskType_revertsWithoutStake() public {
        _stake(alice, MIN_SINK_STAKE - 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.InsufficientStake.selector, MIN_SINK_STAKE - 1, MIN_SINK_STAKE)
        );
        registry.registerTaskType("x", token, PRICE, 0);
        assertFalse(registry.exists(registry.taskTypeIdOf(alice, "x")));
    }

    function test_registerTaskType_revertsWhenExists() public {
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.TaskTypeExists.selector, id));
        registry.registerTaskType("llm", token, PRICE * 2, 0);
        assertEq(registry.pricePerTask(id), PRICE, "unchanged");
    }

    // ---------------------------------------------------------------- sinks

    function test_registerSink_joinsWithZeroCapacityAndLocksStake() public {
        _stake(alice, 400e18);
        vm.expectEmit(true, true, false, false, address(registry));
        emit CapacityRegistry.SinkRegistered(id, alice);
        _register(alice, id);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, alice);
        assertTrue(s.registered);
        assertEq(s.index, 0);
        assertEq(s.smoothed, 0);
        assertEq(s.raw, 0);
        assertEq(s.lastUpdate, 0);
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
        _stake(alice, 400e18);
        _register(alice, id);
        for (uint256 i = 1; i < MAX_TASK_TYPES_PER_SINK; ++i) {
            _register(alice, _taskType(vm.toString(i), 0));
        }
        bytes32 extra = _taskType("one too many", 0);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.TooManyRegistrations.selector, MAX_TASK_TYPES_PER_SINK));
        registry.registerSink(extra);
        assertEq(registry.registrationsOf(alice).length, MAX_TASK_TYPES_PER_SINK);
    }

    function test_deregisterSink_dropsCapacityUnitsAndUnlocks() public {
        address a = _sink("a", id, 400e18);
        address b = _sink("b", id, 400e18);
        address c = _sink("c", id, 400e18);
        _declareUntilSettled(a, id, 10);
        _declareUntilSettled(b, id, 12);
        _declareUntilSettled(c, id, 14);
        _commit(a, id, 5); // a pending commitment is dropped too
        assertEq(registry.totalCapacity(id), 36);

        vm.expectEmit(true, true, false, false, address(registry));
        emit CapacityRegistry.SinkDeregistered(id, a);
        _deregister(a, id);

        assertEq(registry.totalCapacity(id), 26, "capacity drops at once");
        assertEq(registry.taskType(id).sinkCount, 2);
        assertEq(_units(id, a), 0, "units drop in the same transaction");
        assertEq(registry.reservedCapacity(a), 0);
        assertEq(registry.registrationsOf(a).length, 0);
        assertEq(registry.commitmentOf(id, a).hash, bytes32(0), "commitment dropped");
        assertFalse(registry.sinkState(id, a).registered);
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(stakeManager.accountOf(a).registrations, 0);
        // swap-and-pop kept the moved sink's index right
        address[] memory sinks = registry.sinksOf(id);
        assertEq(sinks.length, 2);
        assertEq(sinks[0], c);
        assertEq(sinks[1], b);
        assertEq(registry.sinkState(id, c).index, 0);
        assertEq(registry.sinkState(id, b).index, 1);
        // the moved sink can still leave cleanly
        _deregister(c, id);
        assertEq(registry.sinksOf(id)[0], b);
        assertEq(registry.sinkState(id, b).index, 0);
        assertEq(registry.totalCapacity(id), 12);
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
        _deregister(a, id);
        _register(a, id);
        assertEq(registry.getSmoothedCapacity(id, a), 0, "no capacity carried over");
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
        assertEq(s.raw, 10);
        assertEq(s.smoothed, 3);
        assertEq(s.lastUpdate, block.timestamp);
        assertEq(registry.reservedCapacity(a), 10, "max(raw, smoothed) is reserved");
        assertEq(registry.totalCapacity(id), 3);
        assertEq(_units(id, a), 3 * UNIT_SCALE);
    }

    function test_declare_cappedByStake() public {
        address a = _sink("a", id, 400e18); // cap 20
        _declare(a, id, 1_000);
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.raw, 20, "declaration capped at sqrt(400)");
        assertEq(s.smoothed, 6);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declareUntilSettled(a, id, 20);
        assertEq(registry.getSmoothedCapacity(id, a), 20);
    }

    function test_declare_capSharedAcrossTaskTypes() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 400e18); // cap 20
        _register(a, id2);
        _declareUntilSettled(a, id, 15);
        _declare(a, id2, 15);
        assertEq(registry.sinkState(id2, a).raw, 5, "only the room left by the other type");
        assertEq(registry.reservedCapacity(a), 20);
        assertLe(_backed(a), stakeManager.getCapacityCap(a));
        // lowering one type frees room only as fast as its EWMA falls (max(raw, smoothed) is held)
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 0);
        assertEq(registry.getSmoothedCapacity(id, a), 10, "floor(0.7*15)");
        _declare(a, id2, 15);
        assertEq(registry.sinkState(id2, a).raw, 10, "room = 20 - 10");
        assertEq(_backed(a), registry.reservedCapacity(a));
        assertLe(_backed(a), 20);
    }

    function test_declare_moreStakeRaisesTheCap() public {
        address a = _sink("a", id, 100e18); // cap 10
        _declare(a, id, 30);
        assertEq(registry.sinkState(id, a).raw, 10);
        _stake(a, 800e18); // 900 -> cap 30
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(a, id, 30);
        assertEq(registry.sinkState(id, a).raw, 30);
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
        uint256 huge = uint256(type(uint64).max) + 1;
        bytes32 nonce = _commit(a, id, huge);
        vm.roll(block.number + 1);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.CapacityTooLarge.selector, huge));
        registry.revealCapacity(id, huge, nonce);
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        // uint64 max itself is accepted (and capped by the stake)
        bytes32 nonce2;
        vm.roll(block.number + COMMIT_TIMEOUT + 1);
        nonce2 = _commit(a, id, type(uint64).max);
        vm.roll(block.number + 1);
        vm.prank(a);
        registry.revealCapacity(id, type(uint64).max, nonce2);
        assertEq(registry.sinkState(id, a).raw, 20);
    }

    // ---------------------------------------------------------------- stake changes

    function test_onStakeChanged_onlyStakeManager() public {
        address a = _sink("a", id, 400e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotStakeManager.selector, alice));
        registry.onStakeChanged(a);
    }

    function test_onStakeChanged_scalesEveryRegistrationWithinTheCap() public {
        bytes32 id2 = _taskType("second", 0);
        address a = _sink("a", id, 400e18); // cap 20
        _register(a, id2);
        _connect(a, id2);
        _declareUntilSettled(a, id, 12);
        _declareUntilSettled(a, id2, 8);
        assertEq(registry.reservedCapacity(a), 20);

        // 400 -> 100: cap 10, so everything halves (rounding down)
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id, a, 6, 6);
        vm.expectEmit(true, true, false, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id2, a, 4, 4);
        vm.prank(slasher);
        stakeManager.slash(a, 300e18, "x");

        assertEq(stakeManager.getCapacityCap(a), 10);
        assertEq(registry.getSmoothedCapacity(id, a), 6);
        assertEq(registry.getSmoothedCapacity(id2, a), 4);
        assertEq(registry.reservedCapacity(a), 10);
        assertEq(registry.totalCapacity(id), 6);
        assertEq(registry.totalCapacity(id2), 4);
        assertEq(_units(id, a), 6 * UNIT_SCALE, "units follow in the same transaction");
        assertEq(_units(id2, a), 4 * UNIT_SCALE);
    }

    function test_onStakeChanged_noopWhileWithinTheCap() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 10);
        vm.recordLogs();
        vm.prank(slasher);
        stakeManager.slash(a, 100e18, "x"); // cap 20 -> 17, still >= 10
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(registry), "no CapacityCapped");
        }
        assertEq(registry.getSmoothedCapacity(id, a), 10);
        assertEq(registry.reservedCapacity(a), 10);
    }

    function test_onStakeChanged_belowMinimumZeroesCapacity() public {
        address a = _sink("a", id, 400e18);
        _declareUntilSettled(a, id, 10);
        vm.prank(slasher);
        stakeManager.slash(a, 301e18, "x"); // 99 tokens: below the minimum, cap 0
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        assertEq(registry.totalCapacity(id), 0);
        assertEq(_units(id, a), 0);
        assertTrue(registry.sinkState(id, a).registered, "still registered, just worthless");
    }

    // ---------------------------------------------------------------- views

    function test_views_unknownAndUnregistered() public view {
        bytes32 bogus = keccak256("bogus");
        assertFalse(registry.exists(bogus));
        assertEq(registry.totalCapacity(bogus), 0);
        assertEq(registry.pricePerTask(bogus), 0);
        assertEq(registry.taskType(bogus).creator, address(0));
        assertEq(registry.sinksOf(bogus).length, 0);
        assertEq(registry.getSmoothedCapacity(id, alice), 0);
        assertEq(registry.reservedCapacity(alice), 0);
        assertEq(registry.registrationsOf(alice).length, 0);
        assertEq(registry.commitmentOf(id, alice).hash, bytes32(0));
    }

    // ---------------------------------------------------------------- fuzz: caps and totals

    /// @notice Random stakes, declarations over up to three task types, and a random slash:
    /// for every sink, sum over its types of max(raw, smoothed) == reserved <= cap; per type,
    /// totalCapacity == sum of smoothed; units == smoothed * UNIT_SCALE within the deadband
    /// (exactly after a forced update such as a slash).
    /// forge-config: default.fuzz.runs = 256
    function testFuzz_capsTotalsAndUnits(uint256 seed, uint96[3] memory stakes, uint256 slashAmount) public {
        bytes32[3] memory ids = [id, _taskType("b", 0), _taskType("c", 0)];
        address[3] memory sinks;
        for (uint256 i; i < 3; ++i) {
            sinks[i] = _sink(string.concat("s", vm.toString(i)), ids[i], bound(stakes[i], MIN_SINK_STAKE, 5_000e18));
            for (uint256 j; j < 3; ++j) {
                if (j != i && uint256(keccak256(abi.encode(seed, i, j))) % 2 == 0) {
                    _register(sinks[i], ids[j]);
                    _connect(sinks[i], ids[j]);
                }
            }
        }
        for (uint256 round; round < 6; ++round) {
            for (uint256 i; i < 3; ++i) {
                bytes32[] memory regs = registry.registrationsOf(sinks[i]);
                uint256 r = uint256(keccak256(abi.encode(seed, round, i)));
                _declare(sinks[i], regs[r % regs.length], (r >> 8) % 90);
            }
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
            _checkCapsAndTotals(ids, sinks, false);
        }
        address victim = sinks[seed % 3];
        uint256 amount = bound(slashAmount, 1, stakeManager.getStake(victim));
        vm.prank(slasher);
        stakeManager.slash(victim, amount, "fuzz");
        _checkCapsAndTotals(ids, sinks, true);
    }

    function _checkCapsAndTotals(bytes32[3] memory ids, address[3] memory sinks, bool afterSlash) internal view {
        for (uint256 i; i < 3; ++i) {
            assertEq(_backed(sinks[i]), registry.reservedCapacity(sinks[i]), "reserved is exact");
            assertLe(_backed(sinks[i]), stakeManager.getCapacityCap(sinks[i]), "within the stake cap");
            assertEq(registry.totalCapacity(ids[i]), _sumSmoothed(ids[i]), "totalCapacity exact");
            address[] memory members = registry.sinksOf(ids[i]);
            for (uint256 j; j < members.length; ++j) {
                uint256 target = registry.getSmoothedCapacity(ids[i], members[j]) * UNIT_SCALE;
                uint256 units = _units(ids[i], members[j]);
                assertFalse(CapacityMath.outsideDeadband(units, target, REBALANCE_THRESHOLD_BPS), "units follow");
                if (afterSlash && registry.reservedCapacity(members[j]) == 0) assertEq(units, 0);
            }
        }
    }
}
