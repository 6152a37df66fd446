// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {TrackerMarket} from "./utils/TrackerMarket.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @notice The default verification rule (Rule.Shortfall): each window, owed = expected * (1 -
/// tolerance) (rounded down); every task completed short of it costs the stake that backs one task/epoch in
/// the task type (stakeUnitsPerTask * stakeUnit = 20 stake tokens in the fixture), capped at
/// staked + unbonding; no strikes. Exact penalties, the tolerance, leaving, the cap, and the
/// economics of over-declaring: the stake lost exceeds the extra pay captured.
contract ShortfallRuleTest is TrackerMarket {
    uint256 internal constant PER_TASK = STAKE_UNITS_PER_TASK * STAKE_UNIT; // 20e18 stake wei per task short
    uint256 internal constant TOLERANCE_BPS = 600; // CompletionTracker.SHORTFALL_TOLERANCE_BPS

    address internal keeper = makeAddr("keeper");

    /// @dev What the rule owes for `expected`: expected less the tolerance, rounded down.
    function _owed(uint256 expected) internal view returns (uint256) {
        return expected * (BPS - tracker.SHORTFALL_TOLERANCE_BPS()) / BPS;
    }

    /// @dev The penalty the rule charges for `completions` against `expected` (uncapped).
    function _penalty(uint256 expected, uint256 completions) internal view returns (uint256) {
        uint256 owed = _owed(expected);
        return owed > completions ? (owed - completions) * PER_TASK : 0;
    }

    // ---------------------------------------------------------------- the rule

    function test_rule_isTheDefault() public view {
        assertEq(uint256(tracker.rule()), uint256(CompletionTracker.Rule.Shortfall), "the fixture's default");
        assertEq(tracker.SHORTFALL_TOLERANCE_BPS(), TOLERANCE_BPS, "a few % of expected is noise");
        assertEq(registry.taskType(id).stakeUnitsPerTask, STAKE_UNITS_PER_TASK);
        assertEq(stakeManager.stakeUnit(), STAKE_UNIT);
        assertEq(PER_TASK, 20e18, "one task short costs 20 stake tokens");
    }

    /// @notice 12 tasks paid, capacity 10: expected 10, owed 9 (10 less a few %, rounded down). Completing 4
    /// is 5 short: exactly 5 * 20e18 = 100e18 slashed, to the treasury, no strike; the cap,
    /// allowance, capacity and units drop in the same transaction (400 -> 300 stake: x 3/4).
    function test_shortfall_exactPenalty() public {
        _stream(src, id, _rate(12)); // 4e13 wei/s: 4e9 per unit, 12 tasks per epoch
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + 150);
        _complete(id, a, aKey, src, srcKey, 4, ++salt);
        _toEpochStart();

        uint256 treasuryBefore = stakeToken.balanceOf(treasury);
        assertEq(_penalty(10, 4), 100e18);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 10, 4, 0, 100e18);
        vm.expectEmit(true, true, true, true, address(stakeManager));
        emit IStakeManager.Slashed(a, 100e18, "UNDERPERFORMANCE");
        vm.expectEmit(true, true, true, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id, a, 15, 7); // 20 * 300 / 400, floor(10 * 300 / 400)
        vm.expectEmit(true, true, true, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, a, 7_000);
        vm.prank(keeper); // anyone may trigger it
        tracker.advanceEpoch(id, a);

        assertEq(stakeManager.getStake(a), 300e18, "exactly the shortfall's stake");
        assertEq(stakeToken.balanceOf(treasury) - treasuryBefore, 100e18, "to the treasury");
        assertEq(stakeManager.getCapacityCap(a), 300);
        assertEq(registry.sinkState(id, a).allowance, 15);
        assertEq(registry.getSmoothedCapacity(id, a), 7);
        assertEq(registry.allocatedCapacity(a), 300, "15 tasks * 20 units");
        assertEq(_units(id, a), 7_000, "units dropped in the same transaction");
        assertEq(tracker.windowOf(id, a).strikes, 0, "the shortfall rule keeps no strikes");
        assertEq(tracker.windowOf(id, a).capacityAtOpen, 7, "the next window opens with the capacity left");

        // the next window is judged on its own, no debt carried over: a now absorbs 7 tasks' pay
        // (6 whole tasks after the GDA's rounding; the rest overflows to the buffer), so 6 are
        // expected; 6 done: free
        vm.warp(block.timestamp + 150);
        _complete(id, a, aKey, src, srcKey, 6, ++salt);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 1, 1, 6, 6, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), 300e18, "no debt carried over");
    }

    /// @notice A window over skipped epochs: 3 epochs of 6 paid tasks, expected 18 (owed 18 less
    /// the tolerance); 8 completed: every task short of owed charged in this one window, no
    /// strikes needed.
    function test_shortfall_multiEpochWindow() public {
        _stream(src, id, _rate(6)); // 2e13 wei/s: 2e9 per unit
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + EPOCH + 100); // 8 tasks paid by now
        _complete(id, a, aKey, src, srcKey, 8, ++salt);
        vm.warp((e0 + 3) * EPOCH + RECEIPT_GRACE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 3, 18, 8, 0, _penalty(18, 8));
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE - (_owed(18) - 8) * PER_TASK);
        assertGe(_owed(18), 16, "a tolerance of a few %: 16 or 17 owed of 18");
    }

    /// @notice Within the tolerance nothing is charged; one task beyond it costs one task's stake.
    /// Two-epoch windows: capacity 10, 12 paid per epoch, expected 20, owed 20 less the tolerance
    /// (18 at 6 %, 19 at 5 %).
    function test_shortfall_noPenaltyWithinTheTolerance() public {
        // the source deposits ahead, so its credit covers every receipt whenever it is filed
        vm.startPrank(src);
        token.approve(address(buffer), 60 * PRICE);
        buffer.deposit(id, 60 * PRICE);
        vm.stopPrank();
        _stream(src, id, _rate(12));
        tracker.advanceEpoch(id, a);

        // all 20: nothing
        vm.warp(block.timestamp + EPOCH);
        _complete(id, a, aKey, src, srcKey, 20, ++salt);
        vm.warp((e0 + 2) * EPOCH + RECEIPT_GRACE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 2, 20, 20, 0, 0);
        tracker.advanceEpoch(id, a);

        // exactly the owed share of 20: short by the tolerance, not charged
        uint256 owed = _owed(20);
        assertLt(owed, 20);
        assertGe(owed * BPS, 20 * (BPS - TOLERANCE_BPS) - BPS, "owed: 20 less the tolerance, rounded down");
        vm.warp(block.timestamp + EPOCH);
        _complete(id, a, aKey, src, srcKey, owed, ++salt);
        vm.warp((e0 + 4) * EPOCH + RECEIPT_GRACE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 2, 20, owed, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE, "within the tolerance: untouched");

        // one task fewer: one task beyond the tolerance, one task's stake
        vm.warp(block.timestamp + EPOCH);
        _complete(id, a, aKey, src, srcKey, owed - 1, ++salt);
        vm.warp((e0 + 6) * EPOCH + RECEIPT_GRACE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 4, 2, 20, owed - 1, 0, PER_TASK);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE - PER_TASK, "exactly one task's stake");
    }

    /// @notice Expected is what was paid (never the declaration alone): no demand, or low demand
    /// fully served, is never charged.
    function test_shortfall_honestSinkUnderLowDemandNeverCharged() public {
        tracker.advanceEpoch(id, a);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 0, 0, 0, 0);
        tracker.advanceEpoch(id, a);

        // the source deposits ahead (credit for receipts), then streams 3 tasks/epoch
        vm.startPrank(src);
        token.approve(address(buffer), 20 * PRICE);
        buffer.deposit(id, 20 * PRICE);
        vm.stopPrank();
        _stream(src, id, _rate(3)); // 1e13 wei/s: 1e9 per unit, 3 tasks per epoch
        for (uint256 i = 1; i < 5; ++i) {
            vm.warp(block.timestamp + 100);
            _complete(id, a, aKey, src, srcKey, 3, ++salt);
            _toEpochStart();
            vm.expectEmit(true, true, true, true, address(tracker));
            emit CompletionTracker.EpochEvaluated(id, a, e0 + i, 1, 3, 3, 0, 0);
            tracker.advanceEpoch(id, a);
        }
        assertEq(stakeManager.getStake(a), STAKE, "never charged for work nobody paid for");
    }

    /// @notice Pay the sink hands back in the window (EscrowBuffer.returnPayment) is not expected
    /// work: paid 12 tasks while only 4 were requested, a returns 8 tasks' pay and is expected 4
    /// (owed 3): not charged. The same window without the return expects 10 and charges 5 tasks.
    function test_shortfall_returnedPayIsNotExpectedWork() public {
        _stream(src, id, _rate(12)); // 12 tasks per epoch to a (no keeper re-sized the overflow)
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + 150);
        _complete(id, a, aKey, src, srcKey, 4, ++salt); // all that was requested
        _toEpochStart();
        vm.warp(block.timestamp - 1); // still in the window's grace: a hands back the unearned pay
        vm.startPrank(a);
        token.approve(address(buffer), 8 * PRICE);
        buffer.returnPayment(id, 8 * PRICE);
        vm.stopPrank();
        vm.warp(block.timestamp + 1);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 4, 4, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE, "not charged");

        // the next window, same work, nothing handed back: expected 10, owed 9, 5 tasks' stake
        vm.warp(block.timestamp + 150);
        _complete(id, a, aKey, src, srcKey, 4, ++salt);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 1, 1, 10, 4, 0, 5 * PER_TASK);
        tracker.advanceEpoch(id, a);
    }

    // ---------------------------------------------------------------- leaving and the cap

    /// @notice Leaving mid-window does not dodge the penalty: the window is judged on what was
    /// paid while registered (3 tasks, owed 2), and the penalty comes out of the unbonding stake.
    /// A sink that has left cannot file receipts to make up for it either.
    function test_shortfall_leavingDoesNotDodgeThePenalty() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + EPOCH / 2); // paid for 3 tasks
        vm.startPrank(a);
        registry.deregisterSink(id);
        stakeManager.unstake(STAKE);
        vm.stopPrank();
        assertEq(stakeManager.getStake(a), 0, "nothing staked any more");
        assertEq(stakeManager.accountOf(a).unbonding, STAKE);
        CompletionTracker.Receipt memory r =
            _receipt(keccak256("late"), id, a, src, block.timestamp, block.timestamp + 1 hours);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(aKey, srcKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.NotRegistered.selector, id, a));
        tracker.recordCompletion(r, sinkSig, sourceSig);

        _toEpochStart();
        uint256 treasuryBefore = stakeToken.balanceOf(treasury);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 3, 0, 0, 2 * PER_TASK);
        vm.prank(keeper);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.accountOf(a).unbonding, STAKE - 2 * PER_TASK, "taken from the unbonding stake");
        assertEq(stakeToken.balanceOf(treasury) - treasuryBefore, 2 * PER_TASK);

        // nothing paid after leaving: nothing more expected
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 1, 1, 0, 0, 0, 0);
        tracker.advanceEpoch(id, a);
    }

    /// @notice The penalty is capped at what the sink has at stake: a minimum-stake sink (100
    /// tokens: 5 tasks/epoch) owing 14 tasks (280 tokens) of 15 loses its 100, and with them its
    /// cap, capacity and units.
    function test_shortfall_penaltyCappedAtTheStake() public {
        bytes32 t = _taskType("small", 1_000e18);
        address m = _sink("m", t, MIN_SINK_STAKE); // completes nothing
        _declareUntilSettled(m, t, 5);
        bpPool.rebalance(t);
        _stream(src, t, _rate(6)); // 2e13 wei/s over 5,000 units: 6 tasks per epoch
        _toEpochStart();
        uint256 e = block.timestamp / EPOCH;
        tracker.advanceEpoch(t, m);
        vm.warp((e + 3) * EPOCH + RECEIPT_GRACE);
        assertGt(_penalty(15, 0), MIN_SINK_STAKE, "owes 14 tasks (280 tokens) of 15");
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(t, m, e, 3, 15, 0, 0, MIN_SINK_STAKE);
        tracker.advanceEpoch(t, m);
        assertEq(stakeManager.getStake(m), 0, "all of it, no more");
        assertEq(stakeManager.getCapacityCap(m), 0);
        assertEq(registry.getSmoothedCapacity(t, m), 0);
        assertEq(registry.sinkState(t, m).allowance, 0);
        assertEq(_units(t, m), 0);
        assertEq(registry.totalWeight(t), 0);
    }

    /// @notice The cap counts the unbonding stake too: a sink that left (120 tokens unbonding)
    /// owing 16-17 tasks of 18 (over 300 tokens) loses the 120.
    function test_shortfall_penaltyCappedAtStakedPlusUnbonding() public {
        bytes32 t = _taskType("leaver", 1_000e18);
        address m = _sink("m2", t, 120e18); // 120 units: 6 tasks/epoch
        _declareUntilSettled(m, t, 6);
        bpPool.rebalance(t);
        _stream(src, t, _rate(9)); // 3e13 wei/s over 6,000 units: 9 tasks per epoch
        _toEpochStart();
        uint256 e = block.timestamp / EPOCH;
        tracker.advanceEpoch(t, m);
        vm.warp((e + 3) * EPOCH + 10); // three epochs served (badly), then leaves within the grace
        vm.startPrank(m);
        registry.deregisterSink(t);
        stakeManager.unstake(120e18);
        vm.stopPrank();
        vm.warp((e + 3) * EPOCH + RECEIPT_GRACE);
        assertGt(_penalty(18, 0), 120e18);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(t, m, e, 3, 18, 0, 0, 120e18);
        tracker.advanceEpoch(t, m);
        assertEq(stakeManager.accountOf(m).staked, 0);
        assertEq(stakeManager.accountOf(m).unbonding, 0, "staked + unbonding, and not a wei more");
    }

    // ---------------------------------------------------------------- over-declaring does not pay

    /// @notice Over-declaring by 10 %, 25 %, 100 % and 400 % above what the sink completes (40
    /// tasks/epoch): the stake it loses exceeds the extra pay it captured, in every case.
    function test_overDeclaring10PercentLosesMoreThanItGains() public {
        _overDeclaration(10);
    }

    function test_overDeclaring25PercentLosesMoreThanItGains() public {
        _overDeclaration(25);
    }

    function test_overDeclaring100PercentLosesMoreThanItGains() public {
        _overDeclaration(100);
    }

    function test_overDeclaring400PercentLosesMoreThanItGains() public {
        _overDeclaration(400);
    }

    uint256 internal constant TRUE_CAPACITY = 40; // what the subject really completes per epoch
    uint256 internal constant RIVAL = 20; // an honest rival's capacity, in both markets
    uint256 internal constant DEMAND = 240; // tasks/epoch streamed into each market

    /// @dev Two identical markets, each an honest rival (20) and a subject that completes 40
    /// tasks/epoch and has 4,000 tokens at stake (200 tasks/epoch of cap). In the honest market the
    /// subject declares 40; in the lying one 40 * (1 + pct %). Demand (240/epoch) exceeds both
    /// markets' declared capacity, so the subject is paid at least for what it declared (expected
    /// = its declaration). One epoch, both subjects complete 40. The extra pay is what the liar
    /// received beyond the honest subject; the penalty is its shortfall's stake. In task units,
    /// valuing the stake token at par with the payment token: each task short costs 20e18 / 1e15 =
    /// 20,000 task prices, each extra paid task earned one; the penalty must exceed the extra.
    struct Case {
        uint256 declared;
        uint256 epoch;
        bytes32 tHonest;
        address honest;
        bytes32 tLying;
        address liar;
        uint256 honestPaid; // what the honest subject was paid in the window (token wei)
        uint256 liarPaid; // what the liar was paid in the same window of its market
    }

    function _overDeclaration(uint256 pct) internal {
        Case memory c = _runEpoch(pct);
        assertGe(c.liarPaid / PRICE, c.declared, "demand above capacity: paid for all it declared");
        assertGe(c.honestPaid / PRICE, TRUE_CAPACITY);

        // the honest subject does all it declared: not charged
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(c.tHonest, c.honest, c.epoch, 1, TRUE_CAPACITY, TRUE_CAPACITY, 0, 0);
        tracker.advanceEpoch(c.tHonest, c.honest);

        // the liar is expected to do what it declared, does 40, and pays for the shortfall
        uint256 shortTasks = _owed(c.declared) - TRUE_CAPACITY;
        uint256 penalty = _penalty(c.declared, TRUE_CAPACITY);
        assertEq(penalty, shortTasks * PER_TASK);
        uint256 stakeBefore = stakeManager.getStake(c.liar);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(c.tLying, c.liar, c.epoch, 1, c.declared, TRUE_CAPACITY, 0, penalty);
        tracker.advanceEpoch(c.tLying, c.liar);
        uint256 lost = stakeBefore - stakeManager.getStake(c.liar);
        assertEq(lost, penalty, "the shortfall's stake, exactly");

        assertGt(c.liarPaid, c.honestPaid, "over-declaring does capture more pay");
        uint256 extraPaid = c.liarPaid - c.honestPaid; // what lying captured (payment token wei)
        uint256 penaltyTasks = lost / PRICE; // the loss, counted in task prices
        uint256 extraTasks = extraPaid / PRICE; // the extra pay, counted in tasks
        emit log_named_uint("over-declared by (%)", pct);
        emit log_named_uint("  declared (tasks/epoch)", c.declared);
        emit log_named_uint("  tasks short, charged", shortTasks);
        emit log_named_uint("  penalty (task prices)", penaltyTasks);
        emit log_named_uint("  extra paid (tasks)", extraTasks);
        assertGt(shortTasks, 0, "charged at all");
        assertGt(penaltyTasks, extraTasks, "the stake lost exceeds the extra pay captured");
        assertGt(lost, extraPaid, "in wei too (stake token at par)");
    }

    /// @dev Both markets, one epoch: each subject completes 40; returns what each was paid.
    function _runEpoch(uint256 pct) internal returns (Case memory c) {
        c.declared = TRUE_CAPACITY * (100 + pct) / 100;
        string memory tag = vm.toString(pct);
        uint256 honestKey;
        uint256 liarKey;
        (c.tHonest, c.honest, honestKey) = _market(string.concat("honest-", tag), TRUE_CAPACITY);
        (c.tLying, c.liar, liarKey) = _market(string.concat("lying-", tag), c.declared);
        _stream(src, c.tHonest, _rate(DEMAND));
        _stream(src, c.tLying, _rate(DEMAND));

        _toEpochStart();
        c.epoch = block.timestamp / EPOCH;
        tracker.advanceEpoch(c.tHonest, c.honest);
        tracker.advanceEpoch(c.tLying, c.liar);
        c.honestPaid = _received(c.tHonest, c.honest);
        c.liarPaid = _received(c.tLying, c.liar);
        vm.warp(block.timestamp + 200);
        _complete(c.tHonest, c.honest, honestKey, src, srcKey, TRUE_CAPACITY, ++salt);
        _complete(c.tLying, c.liar, liarKey, src, srcKey, TRUE_CAPACITY, ++salt);
        _toEpochStart();
        c.honestPaid = _received(c.tHonest, c.honest) - c.honestPaid;
        c.liarPaid = _received(c.tLying, c.liar) - c.liarPaid;
    }

    /// @dev A task type with an honest rival (capacity 20) and a keyed subject with 4,000 tokens
    /// at stake (200 tasks/epoch of cap) settled at `declared`.
    function _market(string memory name, uint256 declared)
        internal
        returns (bytes32 t, address subject, uint256 subjectKey)
    {
        t = _taskType(name, 1_000e18);
        address rival = _sink(string.concat(name, "-rival"), t, 400e18);
        (subject, subjectKey) = _keyedSink(string.concat(name, "-subject"), t, 4_000e18);
        assertEq(registry.sinkState(t, subject).allowance, 200);
        _declareUntilSettled(rival, t, RIVAL);
        _declareUntilSettled(subject, t, declared);
        bpPool.rebalance(t);
    }
}
