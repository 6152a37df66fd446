// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {BPETest} from "./utils/BPETest.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @notice CompletionTracker: dual-signed receipts (every check and its revert), payers, and the
/// epoch rule (expected = min(capacity * epochs, paid tasks); < 50 % for 3 consecutive epochs
/// slashes 10 % of the stake, and capacity and units drop in the same transaction).
contract CompletionTrackerTest is BPETest {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant STAKE = 400e18; // cap 20

    bytes32 internal id;
    address internal a;
    uint256 internal aKey;
    address internal src;
    uint256 internal srcKey;
    address internal mallory;
    uint256 internal malloryKey;
    uint256 internal e0; // the epoch the test's window opens in
    uint256 internal salt; // distinct task ids across _complete calls

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 1_000e18);
        (a, aKey) = _keyedSink("a", id, STAKE);
        _declareUntilSettled(a, id, 10);
        bpPool.rebalance(id);
        assertEq(_units(id, a), 10_000);
        (src, srcKey) = _keyedSource("src", 1e24);
        (mallory, malloryKey) = makeAddrAndKey("mallory");
        _toEpochStart();
        e0 = block.timestamp / EPOCH;
    }

    function _toEpochStart() internal {
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH);
    }

    /// @notice Completes `n` tasks in the open window, then moves to the next epoch and evaluates.
    function _epochWith(uint256 n) internal {
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, n, ++salt);
        _toEpochStart();
        tracker.advanceEpoch(id, a);
    }

    function _signed(CompletionTracker.Receipt memory r)
        internal
        view
        returns (bytes memory sinkSig, bytes memory sourceSig)
    {
        return _signReceipt(aKey, srcKey, r);
    }

    function _now(bytes32 taskId) internal view returns (CompletionTracker.Receipt memory) {
        return _receipt(taskId, id, a, src, block.timestamp, block.timestamp + 1 hours);
    }

    // ---------------------------------------------------------------- constructor, digest, views

    function test_constructor_wiring() public view {
        assertEq(address(tracker.registry()), address(registry));
        assertEq(address(tracker.backpressurePool()), address(bpPool));
        assertEq(address(tracker.stakeManager()), address(stakeManager));
        assertEq(address(tracker.buffer()), address(buffer));
        assertEq(address(tracker.pricing()), address(pricing));
        assertEq(tracker.epochSeconds(), EPOCH, "epochs of 5 minutes");
        assertEq(tracker.FAIL_BELOW_BPS(), 5_000);
        assertEq(tracker.STRIKES_TO_SLASH(), 3);
        assertEq(tracker.SLASH_BPS(), 1_000);
        assertEq(tracker.SLASH_REASON(), bytes32("UNDERPERFORMANCE"));
        assertEq(stakeManager.slasher(), address(tracker), "the tracker is the only slasher");
        assertEq(stakeManager.slashRecipient(), treasury, "slashed stake goes to the treasury fixed at deployment");
    }

    function test_receiptDigest_isEIP712() public view {
        assertEq(
            tracker.RECEIPT_TYPEHASH(),
            keccak256(
                "CompletionReceipt(bytes32 taskId,bytes32 taskTypeId,address sink,address source,uint64 completedAt,uint64 deadline)"
            )
        );
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, 1_000, 2_000);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("BPE CompletionTracker"),
                keccak256("1"),
                block.chainid,
                address(tracker)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(tracker.RECEIPT_TYPEHASH(), r.taskId, r.taskTypeId, r.sink, r.source, r.completedAt, r.deadline)
        );
        assertEq(tracker.receiptDigest(r), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function test_currentEpoch() public {
        assertEq(tracker.currentEpoch(), e0);
        vm.warp(block.timestamp + EPOCH - 1);
        assertEq(tracker.currentEpoch(), e0);
        vm.warp(block.timestamp + 1);
        assertEq(tracker.currentEpoch(), e0 + 1);
    }

    // ---------------------------------------------------------------- payers

    function test_isPayer_streamingSourceCounts() public {
        assertFalse(tracker.isPayer(id, src), "funded is not paying");
        _stream(src, id, _rate(6));
        assertTrue(tracker.isPayer(id, src), "streaming into the pool");
        _stream(src, id, 0);
        assertFalse(tracker.isPayer(id, src), "no longer paying");
    }

    function test_isPayer_depositingSourceCounts() public {
        (address depositor,) = _keyedSource("depositor", 1e18);
        assertFalse(tracker.isPayer(id, depositor));
        vm.startPrank(depositor);
        token.approve(address(buffer), 1e18);
        buffer.deposit(id, 1e18);
        vm.stopPrank();
        assertTrue(tracker.isPayer(id, depositor), "deposited into the task type's buffer");
    }

    function test_isPayer_isPerTaskType() public {
        bytes32 other = _taskType("other", 1_000e18);
        address otherSink = _sink("other-sink", other, 100e18);
        _declare(otherSink, other, 5);
        _stream(src, other, _rate(3));
        assertTrue(tracker.isPayer(other, src));
        assertFalse(tracker.isPayer(id, src), "paying another pool does not count here");
    }

    // ---------------------------------------------------------------- recordCompletion

    function test_recordCompletion_countsOnce() public {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + 10);
        bytes32 taskId = keccak256("task-1");
        CompletionTracker.Receipt memory r = _now(taskId);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);

        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.CompletionRecorded(id, a, taskId, src);
        vm.prank(mallory); // anyone may submit
        tracker.recordCompletion(r, sinkSig, sourceSig);

        assertTrue(tracker.counted(id, taskId));
        CompletionTracker.Window memory w = tracker.windowOf(id, a);
        assertTrue(w.opened, "the first receipt opens the window");
        assertEq(w.epoch, e0);
        assertEq(w.completions, 1);
        assertEq(w.strikes, 0);
        assertEq(w.receivedAtStart, _received(id, a), "received measured from now");

        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, taskId));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, a).completions, 1);
    }

    function test_recordCompletion_revertsNotRegistered() public {
        _stream(src, id, _rate(6));
        (address stranger, uint256 strangerKey) = makeAddrAndKey("stranger");
        CompletionTracker.Receipt memory r =
            _receipt(keccak256("t"), id, stranger, src, block.timestamp, block.timestamp + 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(strangerKey, srcKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.NotRegistered.selector, id, stranger));
        tracker.recordCompletion(r, sinkSig, sourceSig);

        bytes32 unknown = keccak256("unknown");
        r = _receipt(keccak256("t"), unknown, a, src, block.timestamp, block.timestamp + 1);
        (sinkSig, sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.NotRegistered.selector, unknown, a));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    function test_recordCompletion_revertsSelfCertified() public {
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, a, block.timestamp, block.timestamp + 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(aKey, aKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.SelfCertified.selector, a));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    function test_recordCompletion_revertsCompletedAfterDeadline() public {
        _stream(src, id, _rate(6));
        uint256 t = block.timestamp;
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, t, t - 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.CompletedAfterDeadline.selector, t, t - 1));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // on the deadline itself is in time
        r.deadline = uint64(t);
        (sinkSig, sourceSig) = _signed(r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.counted(id, r.taskId));
    }

    function test_recordCompletion_revertsCompletedInFuture() public {
        _stream(src, id, _rate(6));
        uint256 t = block.timestamp;
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, t + 1, t + 100);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.CompletedInFuture.selector, t + 1));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        vm.warp(t + 1);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.counted(id, r.taskId), "counts once its time has come");
    }

    function test_recordCompletion_revertsReceiptBeforeWindow() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a); // opens the window at the start of e0
        uint256 start = e0 * EPOCH;
        vm.warp(block.timestamp + 50);
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, start - 1, start + 100);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.ReceiptBeforeWindow.selector, start - 1, start));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        r.completedAt = uint64(start);
        (sinkSig, sourceSig) = _signed(r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, a).completions, 1, "the window's first second counts");
    }

    function test_recordCompletion_revertsInvalidSignature() public {
        _stream(src, id, _rate(6));
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        bytes32 digest = tracker.receiptDigest(r);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        bytes memory sinkErr = abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, a);
        bytes memory sourceErr = abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src);

        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, _sign65(malloryKey, digest), sourceSig); // not the sink's key
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sinkSig, _sign65(malloryKey, digest)); // not the source's key
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, sourceSig, sinkSig); // swapped
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sinkSig, sinkSig); // the sink signing for both
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, "", sourceSig); // missing

        // a field changed after signing (the deadline extended by the submitter)
        CompletionTracker.Receipt memory tampered = _now(keccak256("t"));
        tampered.deadline += 1 days;
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(tampered, sinkSig, sourceSig);

        // the genuine pair still works
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.counted(id, r.taskId));
    }

    /// @notice Malformed sink signatures: compact (64 bytes), v = 29, high s (the malleable
    /// twin of a valid signature), r = 0.
    function test_recordCompletion_revertsMalformedSignature() public {
        _stream(src, id, _rate(6));
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        bytes32 digest = tracker.receiptDigest(r);
        (, bytes memory sourceSig) = _signed(r);
        bytes memory sinkErr = abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, a);
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(aKey, digest);
        (bytes32 cr, bytes32 cvs) = _signCompact(aKey, digest);
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, abi.encodePacked(cr, cvs), sourceSig);
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, abi.encodePacked(rr, s, uint8(29)), sourceSig);
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, abi.encodePacked(rr, bytes32(n - uint256(s)), v == 27 ? 28 : 27), sourceSig);
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, abi.encodePacked(bytes32(0), s, v), sourceSig);
        assertFalse(tracker.counted(id, r.taskId));
        tracker.recordCompletion(r, abi.encodePacked(rr, s, v), sourceSig);
        assertTrue(tracker.counted(id, r.taskId), "the well-formed one counts");
    }

    function test_recordCompletion_revertsNotAPayer() public {
        // src is funded but does not stream: not a payer
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.NotAPayer.selector, src));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // once it streams, the same receipt counts
        _stream(src, id, _rate(6));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.counted(id, r.taskId));
    }

    /// @notice A source that pays by depositing into the buffer co-signs receipts just as well.
    function test_recordCompletion_depositingSourceCounts() public {
        (address depositor, uint256 depositorKey) = _keyedSource("depositor", 1e18);
        vm.startPrank(depositor);
        token.approve(address(buffer), 1e18);
        buffer.deposit(id, 1e18);
        vm.stopPrank();
        CompletionTracker.Receipt memory r =
            _receipt(keccak256("t"), id, a, depositor, block.timestamp, block.timestamp + 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(aKey, depositorKey, r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, a).completions, 1);
    }

    /// @notice Task ids are unique per task type: another sink cannot count the same task.
    function test_recordCompletion_taskIdCountsOncePerTaskType() public {
        _stream(src, id, _rate(6));
        (address b, uint256 bKey) = _keyedSink("b", id, 100e18);
        bytes32 taskId = keccak256("shared");
        CompletionTracker.Receipt memory r = _now(taskId);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        CompletionTracker.Receipt memory rb = _receipt(taskId, id, b, src, block.timestamp, block.timestamp + 1);
        (sinkSig, sourceSig) = _signReceipt(bKey, srcKey, rb);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, taskId));
        tracker.recordCompletion(rb, sinkSig, sourceSig);
    }

    // ---------------------------------------------------------------- advanceEpoch: mechanics

    function test_advanceEpoch_firstCallOpensTheWindow() public {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + 42);
        vm.recordLogs();
        vm.prank(mallory); // anyone may
        tracker.advanceEpoch(id, a);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(tracker), "opening judges nothing");
        }
        CompletionTracker.Window memory w = tracker.windowOf(id, a);
        assertTrue(w.opened);
        assertEq(w.epoch, e0);
        assertEq(w.completions, 0);
        assertEq(w.receivedAtStart, _received(id, a));
        assertGt(w.receivedAtStart, 0);
    }

    function test_advanceEpoch_reverts() public {
        (address stranger,) = makeAddrAndKey("stranger");
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.NotRegistered.selector, id, stranger));
        tracker.advanceEpoch(id, stranger);

        tracker.advanceEpoch(id, a);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, e0));
        tracker.advanceEpoch(id, a);
        vm.warp((e0 + 1) * EPOCH - 1);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, e0));
        tracker.advanceEpoch(id, a);
        vm.warp((e0 + 1) * EPOCH);
        tracker.advanceEpoch(id, a);
        assertEq(tracker.windowOf(id, a).epoch, e0 + 1);
    }

    // ---------------------------------------------------------------- the epoch rule

    /// @notice 6 tasks/epoch paid, capacity 10: expected 6. Two failed epochs (< 3 completions) are
    /// strikes; the third slashes 10 % of the stake, through the StakeManager to the treasury, and
    /// the allowance, capacity and units drop in that same transaction.
    function test_threeFailedEpochsSlashTenPercent() public {
        _stream(src, id, _rate(6)); // 2e13 wei/s: exactly 2e9 per unit
        tracker.advanceEpoch(id, a);

        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 2, ++salt);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 6, 2, 1, 0);
        tracker.advanceEpoch(id, a);

        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 1, 1, 6, 0, 2, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE, "two strikes: nothing yet");

        uint256 treasuryBefore = stakeToken.balanceOf(treasury);
        uint256 heldBefore = stakeToken.balanceOf(address(stakeManager));
        uint256 rateBefore = _memberRate(id, a);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 1, 6, 0, 0, 40e18);
        vm.expectEmit(true, true, true, true, address(stakeManager));
        emit IStakeManager.Slashed(a, 40e18, "UNDERPERFORMANCE");
        vm.expectEmit(true, true, true, true, address(registry));
        emit CapacityRegistry.CapacityCapped(id, a, 18, 9);
        vm.expectEmit(true, true, true, true, address(bpPool));
        emit BackpressurePool.SinkUnitsUpdated(id, a, 9_000);
        vm.prank(mallory); // anyone may trigger it
        tracker.advanceEpoch(id, a);

        assertEq(stakeManager.getStake(a), 360e18, "exactly 10 % slashed");
        assertEq(stakeToken.balanceOf(treasury) - treasuryBefore, 40e18, "to the treasury");
        assertEq(heldBefore - stakeToken.balanceOf(address(stakeManager)), 40e18);
        assertEq(stakeManager.getCapacityCap(a), 18, "sqrt(360)");
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.allowance, 18, "allowance scaled to the new cap");
        assertEq(s.smoothed, 9, "capacity scaled with it");
        assertEq(registry.allocatedCapacity(a), 18);
        assertEq(registry.totalCapacity(id), 9);
        assertEq(_units(id, a), 9_000, "units dropped in the same transaction");
        // alone in the pool it still gets the whole stream (less the GDA's per-unit rounding)
        assertApproxEqRel(_memberRate(id, a), rateBefore, 1e12);
        assertEq(tracker.windowOf(id, a).strikes, 0, "strikes start over");
    }

    /// @notice A passing epoch (exactly 50 % passes) resets the strikes.
    function test_passingEpochResetsStrikes() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(2);
        assertEq(tracker.windowOf(id, a).strikes, 1);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 2);
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 3, ++salt);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 1, 6, 3, 0, 0);
        tracker.advanceEpoch(id, a);
        _epochWith(1);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 2);
        assertEq(stakeManager.getStake(a), STAKE, "never three in a row");
        _epochWith(2);
        assertEq(stakeManager.getStake(a), 360e18, "now three in a row");
    }

    /// @notice Skipped epochs count: a window spanning 3 epochs that fails is 3 strikes at once.
    function test_skippedEpochsCount_threeEpochWindowSlashes() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 8, ++salt); // 8 of 18 expected: < 50 %
        vm.warp((e0 + 3) * EPOCH);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 3, 18, 8, 0, 40e18);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), 360e18);
        assertEq(tracker.windowOf(id, a).epoch, e0 + 3);
    }

    /// @notice Leaving mid-epoch after two strikes does not escape the third: the window keeps the
    /// capacity declared when it opened, and the stake is slashed while it unbonds.
    function test_deregisteringAndUnstakingDoesNotEscapeTheSlash() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(0);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 2);
        assertEq(tracker.windowOf(id, a).capacityAtOpen, 10);

        vm.warp(block.timestamp + EPOCH / 2); // paid for half an epoch: 3 tasks
        vm.startPrank(a);
        registry.deregisterSink(id);
        stakeManager.unstake(STAKE);
        vm.stopPrank();
        assertEq(registry.getSmoothedCapacity(id, a), 0);
        _toEpochStart();
        uint256 treasuryBefore = stakeToken.balanceOf(treasury);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 1, 3, 0, 0, 40e18);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.accountOf(a).unbonding, STAKE - 40e18, "10 % taken from the unbonding stake");
        assertEq(stakeToken.balanceOf(treasury) - treasuryBefore, 40e18);
    }

    function test_skippedEpochsCount_oneStrikeThenTwoEpochWindowSlashes() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 1);
        vm.warp(block.timestamp + 2 * EPOCH);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 1, 2, 12, 0, 0, 40e18);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), 360e18);
    }

    function test_skippedEpochsWindowThatPassesResets() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(0);
        _epochWith(0);
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 9, ++salt); // 9 of 18: exactly half
        vm.warp((e0 + 5) * EPOCH);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 3, 18, 9, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE);
    }

    /// @notice No demand: nothing is expected, so an idle honest sink is never slashed.
    function test_noDemandNeverSlashes() public {
        tracker.advanceEpoch(id, a);
        for (uint256 i; i < 5; ++i) {
            _toEpochStart();
            vm.expectEmit(true, true, true, true, address(tracker));
            emit CompletionTracker.EpochEvaluated(id, a, e0 + i, 1, 0, 0, 0, 0);
            tracker.advanceEpoch(id, a);
        }
        vm.warp(block.timestamp + 50 * EPOCH);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), STAKE, "an idle sink keeps its stake");
        assertEq(registry.getSmoothedCapacity(id, a), 10);
    }

    /// @notice Low demand: 3 tasks/epoch paid against a capacity of 10. Expected is 3, not 10, so
    /// the sink that does the 2-3 tasks it is paid for passes every epoch.
    function test_lowDemandExpectsOnlyPaidTasks() public {
        _stream(src, id, _rate(3));
        tracker.advanceEpoch(id, a);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 100);
            _complete(id, a, aKey, src, srcKey, 2, ++salt);
            _toEpochStart();
            vm.expectEmit(true, true, true, true, address(tracker));
            emit CompletionTracker.EpochEvaluated(id, a, e0 + i, 1, 3, 2, 0, 0);
            tracker.advanceEpoch(id, a);
        }
        assertEq(stakeManager.getStake(a), STAKE);
    }

    /// @notice Expected is capped by the declared capacity: payment beyond it is not expected work.
    function test_expectedCappedByDeclaredCapacity() public {
        _stream(src, id, _rate(12)); // 12 tasks paid for, 10 declared
        tracker.advanceEpoch(id, a);
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 5, ++salt);
        _toEpochStart();
        // Lowering the declaration at the evaluation instant does not lower what was owed: the
        // window keeps the capacity it opened with (10), the larger of the two.
        _declare(a, id, 0);
        assertEq(registry.getSmoothedCapacity(id, a), 7);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 10, 5, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(tracker.windowOf(id, a).capacityAtOpen, 7, "the next window opens with the capacity now");
    }

    /// @notice Paid tasks are counted at the task type's current base fee (the PricingCurve's).
    function test_paidTasksUseTheCurrentBaseFee() public {
        pricing.advanceEpoch(id); // no demand: the fee falls to its floor over the skipped epochs
        vm.warp(block.timestamp + 40 * EPOCH);
        pricing.advanceEpoch(id);
        uint256 floorFee = PRICE * FEE_FLOOR_BPS / BPS;
        assertEq(pricing.baseFee(id), floorFee);
        _toEpochStart();
        _stream(src, id, 2e12); // 0.6 tasks/epoch at the creation price, 6 at the floor fee
        tracker.advanceEpoch(id, a);
        uint256 e = block.timestamp / EPOCH;
        vm.warp(block.timestamp + 100);
        _complete(id, a, aKey, src, srcKey, 2, ++salt);
        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e, 1, 6, 2, 1, 0);
        tracker.advanceEpoch(id, a);
    }

    // ---------------------------------------------------------------- only the rule slashes

    function test_slash_onlyTheTrackerMaySlash() public {
        address[5] memory callers = [mallory, address(this), a, address(registry), address(aggregator)];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(StakeManager.NotSlasher.selector, callers[i]));
            vm.prank(callers[i]);
            stakeManager.slash(a, 1e18, "ANY");
        }
        assertEq(stakeManager.getStake(a), STAKE);
    }

    /// @notice An honest sink cannot be slashed by anyone advancing its epochs, however often.
    function test_advancingOftenCannotSlashAnHonestSink() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 100);
            _complete(id, a, aKey, src, srcKey, 6, ++salt);
            _toEpochStart();
            vm.prank(mallory);
            tracker.advanceEpoch(id, a);
            vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, block.timestamp / EPOCH));
            vm.prank(mallory);
            tracker.advanceEpoch(id, a);
        }
        assertEq(stakeManager.getStake(a), STAKE);
        assertEq(tracker.windowOf(id, a).strikes, 0);
    }
}
