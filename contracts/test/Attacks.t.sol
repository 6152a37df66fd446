// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {BPETest} from "./utils/BPETest.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {EscrowBuffer} from "../src/EscrowBuffer.sol";
import {Pipeline} from "../src/Pipeline.sol";
import {ICapacitySignal} from "../src/interfaces/ICapacitySignal.sol";

/// @notice Attacks as tests: each one is an adversary trying something, and the assertion that it
/// fails (with the specific error) or gains nothing.
contract AttacksTest is BPETest {
    bytes32 internal id;
    address internal mallory = makeAddr("mallory");
    address internal victim;

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 100e18);
        victim = _sink("victim", id, 400e18);
    }

    // ---------------------------------------------------------------- stake reuse

    /// @notice The same tokens cannot back two identities at once: locked while registered,
    /// unbonding after deregistration, and only then free to stake elsewhere.
    function test_stakeReuseAcrossIdentities() public {
        address second = makeAddr("mallory-2");
        _stake(mallory, 400e18);
        _register(mallory, id);
        _declareUntilSettled(mallory, id, 20);

        // 1. pull the stake out from under the registration
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.StakeLocked.selector, 1));
        stakeManager.unstake(400e18);

        // 2. leave, unstake, and try to move the tokens at once
        _deregister(mallory, id);
        vm.prank(mallory);
        stakeManager.unstake(400e18);
        uint256 releaseAt = block.timestamp + UNBONDING;
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.StillUnbonding.selector, releaseAt));
        stakeManager.withdraw();
        assertEq(stakeManager.getCapacityCap(mallory), 0, "unbonding backs nothing");

        // 3. the tokens are not in mallory's hands, so the second identity cannot stake them
        assertEq(stakeToken.balanceOf(mallory), 0);
        vm.startPrank(mallory);
        stakeToken.approve(address(stakeManager), 400e18);
        vm.expectRevert(); // the token's insufficient-balance error
        stakeManager.stake(400e18);
        vm.stopPrank();
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.InsufficientStake.selector, 0, MIN_SINK_STAKE));
        registry.registerSink(id);

        // 4. only after the unbonding delay do they move, and then mallory backs nothing
        vm.warp(releaseAt);
        vm.prank(mallory);
        stakeManager.withdraw();
        vm.prank(mallory);
        stakeToken.transfer(second, 400e18);
        vm.startPrank(second);
        stakeToken.approve(address(stakeManager), 400e18);
        stakeManager.stake(400e18);
        vm.stopPrank();
        assertEq(stakeManager.getCapacityCap(second), 400, "the same 400 units, now behind one identity only");
        assertEq(stakeManager.getCapacityCap(mallory), 0);
        assertEq(
            stakeToken.balanceOf(address(stakeManager)), 400e18 + 400e18 + MIN_SINK_STAKE, "victim + second + creator"
        );
    }

    /// @notice One stake never backs more than its cap across task types: the first registration
    /// takes the whole cap as its allowance, a second one finds nothing left, allowances can only be
    /// moved (never raised past the cap), and every declaration is capped by its allowance.
    function test_oneStakeCannotBackTwoTaskTypesBeyondItsCap() public {
        bytes32 id2 = _taskType("other", 0);
        _stake(mallory, 400e18); // cap 400 stake units: 20 tasks/epoch at 20 units per task
        _register(mallory, id);
        _connect(mallory, id);
        assertEq(registry.sinkState(id, mallory).allowance, 20, "the whole cap");
        _declareUntilSettled(mallory, id, 20);

        // 1. a second registration while the whole cap backs the first
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NoCapacityLeft.selector, 400, 400));
        registry.registerSink(id2);
        // 2. an allowance above the cap (21 tasks need 420 units)
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 420, 400));
        registry.setAllowance(id, 21);

        // 3. moving cap: lowering one allowance drops that capacity at once, and only the freed
        //    cap backs the second registration
        vm.prank(mallory);
        registry.setAllowance(id, 12);
        assertEq(registry.getSmoothedCapacity(id, mallory), 12, "capacity follows the allowance down at once");
        assertEq(_units(id, mallory), 12 * UNIT_SCALE, "and the units");
        _register(mallory, id2);
        _connect(mallory, id2);
        assertEq(registry.sinkState(id2, mallory).allowance, 8, "only what was freed");
        assertEq(registry.allocatedCapacity(mallory), 400);

        // 4. over-declaring in the second type gets the allowance, not the declaration
        bytes32 nonce = _commit(mallory, id2, 20);
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, false, true, address(registry));
        emit ICapacitySignal.CapacityRevealed(id2, mallory, 8, 3);
        vm.prank(mallory);
        registry.revealCapacity(id2, 20, nonce);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declareUntilSettled(mallory, id2, 8);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 420, 400));
        registry.setAllowance(id2, 9);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.AllowanceExceedsCap.selector, 420, 400));
        registry.setAllowance(id, 13);

        assertEq(
            (registry.getSmoothedCapacity(id, mallory) + registry.getSmoothedCapacity(id2, mallory))
                * STAKE_UNITS_PER_TASK,
            stakeManager.getCapacityCap(mallory),
            "both types together: exactly the cap, never more"
        );
        assertEq(registry.allocatedCapacity(mallory), 400);
    }

    /// @notice Splitting a stake over identities: the cap is linear, so n identities together back
    /// at most what the whole stake backs (gain <= 1), an uneven split loses the fractions, and
    /// every identity must hold the minimum stake (n identities cost n minimum stakes; below it
    /// they get nothing at all).
    function test_sybilSplitGainsNothingAndMinimumStakeBites() public {
        // the victim: 400 tokens behind one identity, registered for the whole cap
        uint256 whole = registry.sinkState(id, victim).allowance;
        assertEq(whole, 20, "400 units / 20 per task");
        assertEq(stakeManager.getCapacityCap(victim), 400);

        // four ways: 100 each, exactly the minimum stake
        address[4] memory ids_;
        uint256 splitUnits;
        uint256 splitTasks;
        for (uint256 i; i < 4; ++i) {
            ids_[i] = makeAddr(string.concat("sybil", vm.toString(i)));
            _stake(ids_[i], 100e18);
            _register(ids_[i], id);
            splitUnits += stakeManager.getCapacityCap(ids_[i]);
            splitTasks += registry.sinkState(id, ids_[i]).allowance;
        }
        assertEq(splitUnits, 400, "4 x 100 units: the same as the whole");
        assertEq(splitTasks, whole, "4 x 5 tasks: no gain");
        assertLe(splitTasks, whole, "gain <= 1");
        assertEq(
            stakeToken.balanceOf(address(stakeManager)), 400e18 + 4 * 100e18 + MIN_SINK_STAKE, "4 minimum stakes paid"
        );

        // three ways: 133.33 each; each floors away a fraction of a unit, the fractions of a task
        address[3] memory thirds;
        uint256 thirdTasks;
        for (uint256 i; i < 3; ++i) {
            thirds[i] = makeAddr(string.concat("third", vm.toString(i)));
            _stake(thirds[i], uint256(400e18) / 3);
            _register(thirds[i], id);
            thirdTasks += registry.sinkState(id, thirds[i]).allowance;
        }
        assertEq(thirdTasks, 18, "3 x floor(133 / 20) = 18 < 20: splitting loses");
        assertLt(thirdTasks, whole);

        // eight ways: 50 each, below the minimum: worthless
        address tiny = makeAddr("tiny");
        _stake(tiny, 50e18);
        assertEq(stakeManager.getCapacityCap(tiny), 0);
        vm.prank(tiny);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.InsufficientStake.selector, 50e18, MIN_SINK_STAKE));
        registry.registerSink(id);
    }

    // ---------------------------------------------------------------- backlog reports

    /// @notice A backlog report moves only the reporter's own weight: a stranger cannot report
    /// one for the victim, and a registered sink's report (true or false) can only lower its own
    /// weight, never raise it above its smoothed capacity or touch anyone else's units.
    function test_backlogReportMovesOnlyTheReportersOwnWeight() public {
        _declareUntilSettled(victim, id, 20);
        uint256 victimUnits = _units(id, victim);
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, mallory));
        registry.reportBacklog(id, 1_000_000);
        assertEq(registry.weightOf(id, victim), 20, "the victim's weight is untouched");

        _stake(mallory, 400e18);
        _register(mallory, id);
        _connect(mallory, id);
        _declareUntilSettled(mallory, id, 20);
        // under-reporting (0) gains nothing beyond the smoothed capacity
        vm.prank(mallory);
        registry.reportBacklog(id, 0);
        assertEq(registry.weightOf(id, mallory), 20, "never above the smoothed capacity");
        // a huge report zeroes only her own weight
        uint256 max = registry.MAX_VALUE();
        vm.prank(mallory);
        registry.reportBacklog(id, max);
        assertEq(registry.weightOf(id, mallory), 0);
        assertEq(_units(id, mallory), 0);
        assertEq(_units(id, victim), victimUnits, "the victim's units are untouched");
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, victim);
        assertEq(capacity, 20);
        assertEq(backlog, 0, "the victim's backlog is untouched");
        assertEq(registry.totalWeight(id), 20, "only the victim's weight remains");
        assertEq(registry.totalCapacity(id), 40, "capacity is not what a backlog moves");
    }

    // ---------------------------------------------------------------- unstake before slash

    /// @notice A misbehaving sink deregisters and unstakes to run from a pending slash: the stake
    /// stays slashable while unbonding.
    function test_unstakeBeforeSlash() public {
        _declareUntilSettled(victim, id, 20); // "victim" misbehaves here
        _deregister(victim, id);
        vm.prank(victim);
        stakeManager.unstake(400e18);
        assertEq(stakeManager.getStake(victim), 0);

        vm.warp(block.timestamp + UNBONDING / 2);
        vm.prank(slasher);
        stakeManager.slash(victim, 40e18, "late verdict");
        assertEq(stakeToken.balanceOf(treasury), 40e18, "slashed during unbonding");
        assertEq(stakeManager.accountOf(victim).unbonding, 360e18);

        vm.warp(block.timestamp + UNBONDING);
        vm.prank(victim);
        stakeManager.withdraw();
        assertEq(stakeToken.balanceOf(victim), 360e18, "only what was left");
    }

    // ---------------------------------------------------------------- commit-reveal

    /// @notice Mallory copies the victim's commitment from the mempool and reveals the victim's
    /// values (learnt from the victim's reveal): the hash binds the sender, so it fails.
    function test_commitmentReplayByAnotherAddress() public {
        _stake(mallory, 400e18);
        _register(mallory, id);
        bytes32 nonce = keccak256("victim secret");
        bytes32 victimHash = registry.commitmentHash(victim, id, 20, nonce);
        vm.prank(victim);
        registry.commitCapacity(id, victimHash);
        // reveal without any commitment of her own
        vm.roll(block.number + 1);
        vm.prank(mallory);
        vm.expectRevert(CapacityRegistry.NoCommitment.selector);
        registry.revealCapacity(id, 20, nonce);
        // copy the hash verbatim under her own address
        vm.prank(mallory);
        registry.commitCapacity(id, victimHash);
        vm.roll(block.number + 1);
        vm.prank(mallory);
        vm.expectRevert(CapacityRegistry.CommitmentMismatch.selector);
        registry.revealCapacity(id, 20, nonce);
        assertEq(registry.getSmoothedCapacity(id, mallory), 0);
        // the victim is unaffected
        vm.prank(victim);
        registry.revealCapacity(id, 20, nonce);
        assertEq(registry.getSmoothedCapacity(id, victim), 6);
    }

    function test_sameBlockReveal() public {
        bytes32 nonce = keccak256("n");
        bytes32 h = registry.commitmentHash(victim, id, 20, nonce);
        vm.prank(victim);
        registry.commitCapacity(id, h);
        vm.prank(victim);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.RevealTooEarly.selector, block.number + 1));
        registry.revealCapacity(id, 20, nonce);
        assertEq(registry.getSmoothedCapacity(id, victim), 0);
    }

    /// @notice An expired commitment can be replaced; a pending one cannot (so a reveal cannot be
    /// raced by one's own later commitment).
    function test_expiredCommitmentReplaceablePendingNot() public {
        bytes32 first = registry.commitmentHash(victim, id, 5, bytes32("a"));
        bytes32 second = registry.commitmentHash(victim, id, 20, bytes32("b"));
        vm.prank(victim);
        registry.commitCapacity(id, first);
        uint256 committedAt = block.number;
        vm.roll(committedAt + COMMIT_TIMEOUT);
        vm.prank(victim);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.CommitmentPending.selector, committedAt + COMMIT_TIMEOUT)
        );
        registry.commitCapacity(id, second);
        vm.roll(committedAt + COMMIT_TIMEOUT + 1);
        vm.prank(victim);
        registry.commitCapacity(id, second);
        assertEq(registry.commitmentOf(id, victim).hash, second);
    }

    // ---------------------------------------------------------------- EWMA spamming

    /// @notice Updating as often as possible cannot beat the smoothing: extra reveals revert, and
    /// after the same time a spammer and an honest sink stand at the same capacity.
    function test_updateSpammingAgainstTheEwma() public {
        address honest = _sink("honest", id, 10_000e18); // cap 100
        _stake(mallory, 10_000e18);
        _register(mallory, id);

        uint256 start = block.timestamp;
        uint256 spamOk;
        uint256 spamRejected;
        // ten minutes, second by second for the spammer, once a minute for the honest sink
        for (uint256 t; t < 600; t += 5) {
            vm.warp(start + t);
            bytes32 nonce = _commitOrReuse(mallory, 100);
            vm.roll(block.number + 1);
            vm.prank(mallory);
            try registry.revealCapacity(id, 100, nonce) {
                ++spamOk;
            } catch (bytes memory err) {
                assertEq(bytes4(err), CapacityRegistry.UpdateTooFrequent.selector);
                ++spamRejected;
            }
            if (t % MIN_UPDATE_INTERVAL == 0) _declare(honest, id, 100);
        }
        assertEq(spamOk, 600 / MIN_UPDATE_INTERVAL, "one step per interval, no more");
        assertGt(spamRejected, 100);
        assertEq(
            registry.getSmoothedCapacity(id, mallory),
            registry.getSmoothedCapacity(id, honest),
            "spamming reached no further than honesty"
        );
        assertEq(registry.getSmoothedCapacity(id, mallory), 99, "ten EWMA steps: 30, 51, ..., 98, 99");
    }

    mapping(address => bytes32) private _pendingNonce;

    /// @dev Commits a new value unless a still-valid commitment is waiting to be revealed.
    function _commitOrReuse(address sink, uint256 capacity) internal returns (bytes32 nonce) {
        CapacityRegistry.Commitment memory c = registry.commitmentOf(id, sink);
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + COMMIT_TIMEOUT) return _pendingNonce[sink];
        nonce = _commit(sink, id, capacity);
        _pendingNonce[sink] = nonce;
    }

    // ---------------------------------------------------------------- stale units

    /// @notice A sink that leaves loses its units, its capacity and its stream in the same
    /// transaction; it receives nothing more.
    function test_staleUnitsAfterDeregistration() public {
        address other = _sink("other", id, 400e18);
        _declareUntilSettled(victim, id, 20);
        _declareUntilSettled(other, id, 20);
        address src = _source("src", 1_000_000e18);
        _stream(src, id, _rate(20));
        vm.warp(block.timestamp + 100);
        assertGt(_memberRate(id, victim), 0);

        _deregister(victim, id);
        assertEq(_units(id, victim), 0, "units 0 in the same transaction");
        assertEq(_memberRate(id, victim), 0, "pool flow to it 0");
        assertEq(registry.totalCapacity(id), 20, "totalCapacity dropped");
        assertFalse(bpPool.needsRebalance(id), "nothing left for a keeper to catch up");
        uint256 got = _received(id, victim);
        vm.warp(block.timestamp + 1 days);
        assertEq(_received(id, victim), got, "receives nothing more");
        assertEq(_sinksRate(id) + _adjustmentRate(id), bpPool.inflowRate(id), "the other sink takes it all");
    }

    /// @notice A slash drops the cap, the capacity and the pool units in one transaction.
    function test_slashDropsCapCapacityAndUnitsAtOnce() public {
        _declareUntilSettled(victim, id, 20);
        address src = _source("src", 1_000_000e18);
        _stream(src, id, _rate(15));
        uint256 rateBefore = _memberRate(id, victim);
        assertEq(_units(id, address(buffer)), 0, "15 of 20 absorbable: no overflow");
        vm.prank(slasher);
        stakeManager.slash(victim, 200e18, "missed"); // half the stake: half the cap
        assertEq(stakeManager.getCapacityCap(victim), 200, "200 units: 10 tasks");
        assertEq(registry.getSmoothedCapacity(id, victim), 10);
        assertEq(registry.totalCapacity(id), 10);
        assertEq(_units(id, victim), 10 * UNIT_SCALE);
        // the sink can now absorb only 10: the excess goes to the buffer in the same transaction
        assertGt(_units(id, address(buffer)), 0);
        assertLe(_memberRate(id, victim), _rateOf(10));
        assertLt(_memberRate(id, victim), rateBefore);
        // the buffer takes the rest: exact up to rounding its units up (at most one unit's share
        // of the inflow) and the GDA's per-unit flooring (at most one wei/s per unit)
        uint256 total = _pool(id).getTotalUnits();
        uint256 inflow = bpPool.inflowRate(id);
        assertApproxEqAbs(_memberRate(id, address(buffer)), inflow - _rateOf(10), inflow / total + total);
    }

    // ---------------------------------------------------------------- restricted hooks

    function test_unauthenticatedHooksRevert() public {
        vm.startPrank(mallory);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotRegistry.selector, mallory));
        stakeManager.lock(victim);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotRegistry.selector, mallory));
        stakeManager.unlock(victim);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotSlasher.selector, mallory));
        stakeManager.slash(victim, 1, "");
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotStakeManager.selector, mallory));
        registry.onStakeChanged(victim);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotRegistry.selector, mallory));
        bpPool.createPool(id, token);
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotRegistry.selector, mallory));
        bpPool.setSinkUnits(id, mallory, 1_000);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotBackpressurePool.selector, mallory));
        registry.takeWeights(id, 0, 10);
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotAggregator.selector, mallory));
        registry.applyAttestations(id, abi.encodePacked(victim, uint64(20), uint64(0), uint32(1)));
        vm.expectRevert(abi.encodeWithSelector(BackpressurePool.NotPipeline.selector, mallory));
        bpPool.setCapacityLimit(id, 0);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.NotBackpressurePool.selector, mallory));
        buffer.creditRemainder(id, 1e18);
        vm.stopPrank();
        assertEq(stakeManager.accountOf(victim).registrations, 1, "nothing moved");
        assertEq(_units(id, mallory), 0, "no units for mallory");
        assertEq(registry.sinkState(id, victim).nonce, 0, "no attestation applied");
        assertEq(registry.getSmoothedCapacity(id, victim), 0);
        assertFalse(bpPool.poolInfo(id).limited);
        assertEq(buffer.ledgerOf(id).credited, 0);
    }

    /// @notice Units live in the GDA pool whose only admin is the BackpressurePool: nobody can
    /// set or trade them directly.
    function test_poolUnitsCannotBeTouchedDirectly() public {
        _declareUntilSettled(victim, id, 20);
        ISuperfluidPool pool = _pool(id);
        vm.prank(mallory);
        vm.expectRevert(ISuperfluidPool.SUPERFLUID_POOL_NOT_POOL_ADMIN_OR_GDA.selector);
        pool.updateMemberUnits(mallory, 1_000_000);
        vm.prank(victim);
        vm.expectRevert(ISuperfluidPool.SUPERFLUID_POOL_TRANSFER_UNITS_NOT_ALLOWED.selector);
        pool.transfer(mallory, 1);
        assertEq(pool.getUnits(mallory), 0);
        assertEq(pool.getUnits(victim), 20 * UNIT_SCALE);
    }

    // ---------------------------------------------------------------- pipeline and buffer

    /// @notice A stranger cannot chain someone else's task types to throttle them.
    function test_pipelineGriefing() public {
        bytes32 victimStage = id;
        _stake(mallory, MIN_SINK_STAKE);
        vm.prank(mallory);
        bytes32 own = registry.registerTaskType("mallory's", token, PRICE, 0, STAKE_UNITS_PER_TASK);
        bytes32[] memory stages = new bytes32[](2);
        stages[0] = victimStage; // her stage downstream of the victim's, to throttle it
        stages[1] = own;
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.NotStageCreator.selector, victimStage, creator));
        pipeline.createPipeline(stages);
        stages[0] = own;
        stages[1] = victimStage;
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.NotStageCreator.selector, victimStage, creator));
        pipeline.createPipeline(stages);
        assertFalse(bpPool.poolInfo(victimStage).limited);
        assertEq(pipeline.pipelineOf(victimStage), 0);
    }

    function test_depositIntoNonExistentTaskType() public {
        address src = _source("src", 10e18);
        bytes32 ghost = keccak256("ghost");
        vm.startPrank(src);
        token.approve(address(buffer), 1e18);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.UnknownTaskType.selector, ghost));
        buffer.deposit(ghost, 1e18);
        vm.stopPrank();
        assertEq(token.balanceOf(src), 10e18);
    }

    /// @notice Anyone may trigger a drain, but the money can only go into the task type's pool:
    /// the caller gets nothing.
    function test_drainPaysOnlyThePool() public {
        _declareUntilSettled(victim, id, 20);
        address src = _source("src", 10e18);
        vm.startPrank(src);
        token.approve(address(buffer), 5e18);
        buffer.deposit(id, 5e18);
        vm.stopPrank();
        vm.prank(mallory);
        buffer.drain(id);
        uint256 drained = buffer.ledgerOf(id).drained;
        assertGt(drained, 0);
        assertEq(token.balanceOf(mallory), 0);
        assertEq(_received(id, victim), drained, "all of it to the sink");
    }
}
