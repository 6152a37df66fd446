// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {TrackerMarket} from "./utils/TrackerMarket.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @notice CompletionTracker: receipts signed at two moments (the source's request, the sink's
/// completion; every check and its revert), the credit each counted receipt spends (a source's
/// stream over time plus its deposits, per task type), task ids in their source's namespace, the
/// receipt grace, and the epoch rule (expected = min(capacity * epochs, paid tasks); < 50 % for 3
/// consecutive epochs slashes 10 % of the stake, and capacity and units drop in the same
/// transaction; a sink judged after leaving pays strikes/3 of it). This suite deploys the seeds'
/// strike rule (Rule.Strikes); the default shortfall rule is tested in ShortfallRule.t.sol.
contract CompletionTrackerTest is TrackerMarket {
    address internal mallory;
    uint256 internal malloryKey;

    /// @dev The strike rule, selectable at deployment.
    function _verificationRule() internal pure override returns (CompletionTracker.Rule) {
        return CompletionTracker.Rule.Strikes;
    }

    function setUp() public override {
        super.setUp();
        (mallory, malloryKey) = makeAddrAndKey("mallory");
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

    /// @notice src streams 6 tasks/epoch (2e13 wei/s) and has paid for `tasks` of them.
    function _paidFor(uint256 tasks) internal {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + tasks * 50);
        assertEq(tracker.creditOf(id, src), tasks * PRICE);
    }

    function _depositFor(address who, bytes32 taskTypeId, uint256 amount) internal {
        vm.startPrank(who);
        token.approve(address(buffer), amount);
        buffer.deposit(taskTypeId, amount);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- constructor, digests, views

    function test_constructor_wiring() public view {
        assertEq(address(tracker.host()), address(sf.host), "the Superfluid host fixed at deployment");
        assertEq(address(tracker.registry()), address(registry));
        assertEq(address(tracker.backpressurePool()), address(bpPool));
        assertEq(address(tracker.stakeManager()), address(stakeManager));
        assertEq(address(tracker.buffer()), address(buffer));
        assertEq(address(tracker.pricing()), address(pricing));
        assertEq(tracker.epochSeconds(), EPOCH, "epochs of 5 minutes");
        assertEq(tracker.receiptGrace(), RECEIPT_GRACE, "a minute of grace for late receipts");
        assertEq(tracker.FAIL_BELOW_BPS(), 5_000);
        assertEq(tracker.STRIKES_TO_SLASH(), 3);
        assertEq(tracker.SLASH_BPS(), 1_000);
        assertEq(tracker.SHORTFALL_TOLERANCE_BPS(), 600, "6 % of expected is noise (shortfall rule)");
        assertEq(uint256(tracker.rule()), uint256(CompletionTracker.Rule.Strikes), "this suite's rule");
        assertEq(tracker.SLASH_REASON(), bytes32("UNDERPERFORMANCE"));
        assertEq(stakeManager.slasher(), address(tracker), "the tracker is the only slasher");
        assertEq(stakeManager.slashRecipient(), treasury, "slashed stake goes to the treasury fixed at deployment");
    }

    function _deployTracker(uint256 epochSeconds, uint256 grace) internal returns (CompletionTracker) {
        return new CompletionTracker(
            sf.host, registry, bpPool, stakeManager, buffer, pricing, epochSeconds, grace, _verificationRule()
        );
    }

    function test_constructor_revertsInvalidParameters() public {
        bytes memory err = abi.encodeWithSelector(CompletionTracker.InvalidParameters.selector);
        vm.expectRevert(err);
        _deployTracker(0, 0); // no epoch
        vm.expectRevert(err);
        _deployTracker(EPOCH, EPOCH); // a grace as long as the epoch: never judgeable in time
        vm.expectRevert(err);
        _deployTracker(EPOCH, EPOCH + 1);
        assertEq(_deployTracker(EPOCH, EPOCH - 1).receiptGrace(), EPOCH - 1, "the longest valid grace");
        assertEq(_deployTracker(EPOCH, 0).receiptGrace(), 0, "no grace at all is valid");
    }

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("BPE CompletionTracker"),
                keccak256("1"),
                block.chainid,
                address(tracker)
            )
        );
    }

    /// @notice Two EIP-712 messages: the source's TaskRequest (no completion time: it is signed
    /// when the task is handed out) and the sink's Completion of that request.
    function test_requestAndCompletionDigests_areEIP712() public view {
        assertEq(
            tracker.TASK_REQUEST_TYPEHASH(),
            keccak256("TaskRequest(bytes32 taskId,bytes32 taskTypeId,address sink,address source,uint64 deadline)")
        );
        assertEq(tracker.COMPLETION_TYPEHASH(), keccak256("Completion(bytes32 request,uint64 completedAt)"));
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, 1_000, 2_000);
        bytes32 request = keccak256(
            abi.encode(tracker.TASK_REQUEST_TYPEHASH(), r.taskId, r.taskTypeId, r.sink, r.source, r.deadline)
        );
        assertEq(tracker.requestDigest(r), keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), request)));
        bytes32 completion = keccak256(abi.encode(tracker.COMPLETION_TYPEHASH(), request, r.completedAt));
        assertEq(tracker.completionDigest(r), keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), completion)));

        CompletionTracker.Receipt memory later = _receipt(keccak256("t"), id, a, src, 1_500, 2_000);
        assertEq(tracker.requestDigest(later), tracker.requestDigest(r), "the request ignores completedAt");
        assertTrue(tracker.completionDigest(later) != tracker.completionDigest(r), "the completion binds it");
    }

    function test_currentAndJudgeableEpoch() public {
        assertEq(tracker.currentEpoch(), e0);
        assertEq(tracker.judgeableEpoch(), e0, "the grace of e0's predecessor has passed");
        vm.warp((e0 + 1) * EPOCH - 1);
        assertEq(tracker.currentEpoch(), e0);
        vm.warp((e0 + 1) * EPOCH);
        assertEq(tracker.currentEpoch(), e0 + 1);
        assertEq(tracker.judgeableEpoch(), e0, "e0 still takes receipts");
        vm.warp((e0 + 1) * EPOCH + RECEIPT_GRACE - 1);
        assertEq(tracker.judgeableEpoch(), e0);
        vm.warp((e0 + 1) * EPOCH + RECEIPT_GRACE);
        assertEq(tracker.judgeableEpoch(), e0 + 1, "e0 may be judged");
    }

    // ---------------------------------------------------------------- credit

    /// @notice A stream accrues credit over time (rate * seconds), from the GDA's record of the
    /// flow; a stream opened in this block has paid nothing yet. Counted receipts spend the fee.
    function test_creditOf_streamAccruesOverTime() public {
        assertEq(tracker.creditOf(id, src), 0, "funded is not paying");
        _stream(src, id, _rate(6)); // 2e13 wei/s
        assertEq(tracker.creditOf(id, src), 0, "a stream opened in this block has paid nothing");
        vm.warp(block.timestamp + 50);
        assertEq(tracker.creditOf(id, src), 1e15, "50 s at 2e13 wei/s");
        vm.warp(block.timestamp + 100);
        assertEq(tracker.creditOf(id, src), 3e15);
        _complete(id, a, aKey, src, srcKey, 2, ++salt);
        assertEq(tracker.creditOf(id, src), 1e15, "two receipts spent two base fees");
        vm.warp(block.timestamp + 10);
        assertEq(tracker.creditOf(id, src), 1.2e15, "and the stream keeps paying");

        // a checkpoint (anyone may) books the credit; the source can then change its stream
        vm.prank(mallory);
        tracker.checkpoint(id, src);
        assertEq(tracker.creditOf(id, src), 1.2e15, "booked, not changed");
        _stream(src, id, 0);
        vm.warp(block.timestamp + 1_000);
        assertEq(tracker.creditOf(id, src), 1.2e15, "a closed stream pays nothing more");
    }

    /// @notice Only the flow's current segment is on record with the GDA: a segment the source
    /// did not checkpoint before changing its stream is not counted (credit never exceeds what
    /// was paid).
    function test_creditOf_unCheckpointedSegmentIsLost() public {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + 100);
        assertEq(tracker.creditOf(id, src), 2e15);
        _stream(src, id, _rate(3)); // no checkpoint first
        assertEq(tracker.creditOf(id, src), 0, "the earlier segment is off the record");
        vm.warp(block.timestamp + 100);
        assertEq(tracker.creditOf(id, src), 1e15, "the new segment: 100 s at 1e13 wei/s");
    }

    /// @notice Buffer deposits are credit too, counted once each.
    function test_creditOf_deposits() public {
        (address depositor,) = _keyedSource("depositor", 2e18);
        assertEq(tracker.creditOf(id, depositor), 0);
        _depositFor(depositor, id, 1e18);
        assertEq(tracker.creditOf(id, depositor), 1e18, "deposited into the task type's buffer");
        tracker.checkpoint(id, depositor);
        assertEq(tracker.creditOf(id, depositor), 1e18, "a checkpoint does not count it twice");
        _depositFor(depositor, id, 5e17);
        assertEq(tracker.creditOf(id, depositor), 1.5e18, "a later deposit adds");
    }

    function test_creditOf_isPerTaskType() public {
        bytes32 other = _taskType("other", 1_000e18);
        address otherSink = _sink("other-sink", other, 100e18);
        _declare(otherSink, other, 5);
        _stream(src, other, _rate(3));
        vm.warp(block.timestamp + 100);
        assertEq(tracker.creditOf(other, src), 1e15, "100 s at 1e13 wei/s into the other pool");
        assertEq(tracker.creditOf(id, src), 0, "paying another pool does not count here");
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    // ---------------------------------------------------------------- recordCompletion

    function test_recordCompletion_countsOnce() public {
        _paidFor(1);
        bytes32 taskId = keccak256("task-1");
        CompletionTracker.Receipt memory r = _now(taskId);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);

        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.CompletionRecorded(id, a, taskId, src);
        vm.prank(mallory); // anyone may submit
        tracker.recordCompletion(r, sinkSig, sourceSig);

        assertTrue(tracker.isCounted(id, src, taskId));
        assertEq(tracker.creditOf(id, src), 0, "the base fee spent");
        CompletionTracker.Window memory w = tracker.windowOf(id, a);
        assertTrue(w.opened, "the first receipt opens the window");
        assertEq(w.epoch, e0);
        assertEq(w.completions, 1);
        assertEq(w.strikes, 0);
        assertEq(w.receivedAtStart, _received(id, a), "received measured from now");

        vm.warp(block.timestamp + 100); // credit is no excuse: a counted pair never counts again
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, src, taskId));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, a).completions, 1);
    }

    function test_recordCompletion_revertsNotRegistered() public {
        _paidFor(1);
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
        _paidFor(1);
        uint256 t = block.timestamp;
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, t, t - 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.CompletedAfterDeadline.selector, t, t - 1));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // on the deadline itself is in time
        r.deadline = uint64(t);
        (sinkSig, sourceSig) = _signed(r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, src, r.taskId));
    }

    function test_recordCompletion_revertsCompletedInFuture() public {
        _paidFor(1);
        uint256 t = block.timestamp;
        CompletionTracker.Receipt memory r = _receipt(keccak256("t"), id, a, src, t + 1, t + 100);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.CompletedInFuture.selector, t + 1));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        vm.warp(t + 1);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, src, r.taskId), "counts once its time has come");
    }

    function test_recordCompletion_revertsReceiptBeforeWindow() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a); // opens the window of e0 (which started a grace ago)
        uint256 start = e0 * EPOCH;
        assertEq(tracker.windowOf(id, a).epoch, e0);
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

    /// @notice The source's signature is checked over the request, the sink's over the completion:
    /// wrong keys, swapped or missing signatures, and fields changed after signing all fail, each
    /// naming the signer it failed for.
    function test_recordCompletion_revertsInvalidSignature() public {
        _paidFor(1);
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        bytes32 requestDigest = tracker.requestDigest(r);
        bytes32 completionDigest = tracker.completionDigest(r);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        bytes memory sinkErr = abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, a);
        bytes memory sourceErr = abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src);

        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, _sign65(malloryKey, completionDigest), sourceSig); // not the sink's key
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sinkSig, _sign65(malloryKey, requestDigest)); // not the source's key
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sourceSig, sinkSig); // swapped: the source's slot is checked first
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sinkSig, sinkSig); // the sink signing for both
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(r, "", sourceSig); // missing
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(r, sinkSig, ""); // missing

        // a request field changed after signing (the deadline extended by the submitter)
        CompletionTracker.Receipt memory tampered = _now(keccak256("t"));
        tampered.deadline += 1 days;
        vm.expectRevert(sourceErr);
        tracker.recordCompletion(tampered, sinkSig, sourceSig);
        // the completion time moved after the sink signed (the request still matches)
        tampered = _now(keccak256("t"));
        tampered.completedAt -= 1;
        vm.expectRevert(sinkErr);
        tracker.recordCompletion(tampered, sinkSig, sourceSig);

        // the genuine pair still works
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, src, r.taskId));
    }

    /// @notice The source's signature that counts is the one over the request: a source signature
    /// over the completion digest is rejected, as is a sink signature over the request. The
    /// request, signed once when the task is handed out (before any completion time exists),
    /// backs whatever completion the sink then signs.
    function test_recordCompletion_sourceSignsTheRequestSinkTheCompletion() public {
        _paidFor(1);
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        bytes32 requestDigest = tracker.requestDigest(r);
        bytes32 completionDigest = tracker.completionDigest(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src));
        tracker.recordCompletion(r, _sign65(aKey, completionDigest), _sign65(srcKey, completionDigest));
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, a));
        tracker.recordCompletion(r, _sign65(aKey, requestDigest), _sign65(srcKey, requestDigest));

        // handed out before the work: the request carries no completion time
        CompletionTracker.Receipt memory handedOut = _receipt(r.taskId, id, a, src, 0, r.deadline);
        bytes memory requestSig = _sign65(srcKey, tracker.requestDigest(handedOut));
        assertEq(tracker.requestDigest(handedOut), requestDigest);
        tracker.recordCompletion(r, _sign65(aKey, completionDigest), requestSig);
        assertTrue(tracker.isCounted(id, src, r.taskId));
    }

    /// @notice Malformed sink signatures: compact (64 bytes), v = 29, high s (the malleable
    /// twin of a valid signature), r = 0.
    function test_recordCompletion_revertsMalformedSignature() public {
        _paidFor(1);
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        bytes32 digest = tracker.completionDigest(r);
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
        assertFalse(tracker.isCounted(id, src, r.taskId));
        tracker.recordCompletion(r, abi.encodePacked(rr, s, v), sourceSig);
        assertTrue(tracker.isCounted(id, src, r.taskId), "the well-formed one counts");
    }

    /// @notice Each counted receipt spends the base fee from the source's credit; one beyond it
    /// reverts UnpaidReceipt (naming the credit and the fee) until the stream has paid for it.
    function test_recordCompletion_revertsUnpaidReceipt() public {
        // src is funded but does not stream: no credit
        CompletionTracker.Receipt memory r = _now(keccak256("t"));
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // a stream opened in this very block has paid nothing yet
        _stream(src, id, _rate(6));
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        vm.warp(block.timestamp + 49);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 9.8e14, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        vm.warp(block.timestamp + 1); // 50 s: one base fee paid
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, src, r.taskId));

        // the next receipt is beyond the credit
        CompletionTracker.Receipt memory r2 = _now(keccak256("t2"));
        (sinkSig, sourceSig) = _signed(r2);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 0, PRICE));
        tracker.recordCompletion(r2, sinkSig, sourceSig);
        vm.warp(block.timestamp + 25);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, src, 5e14, PRICE));
        tracker.recordCompletion(r2, sinkSig, sourceSig);
        vm.warp(block.timestamp + 25);
        tracker.recordCompletion(r2, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, a).completions, 2, "one receipt per base fee paid");
        assertEq(tracker.creditOf(id, src), 0);
    }

    /// @notice A source that pays by depositing into the buffer backs receipts just as well, one
    /// per base fee deposited.
    function test_recordCompletion_depositingSourceCounts() public {
        (address depositor, uint256 depositorKey) = _keyedSource("depositor", 1e18);
        _depositFor(depositor, id, 2e15);
        for (uint256 i; i < 3; ++i) {
            CompletionTracker.Receipt memory r =
                _receipt(keccak256(abi.encode(i)), id, a, depositor, block.timestamp, block.timestamp + 1);
            (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(aKey, depositorKey, r);
            if (i == 2) {
                vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, depositor, 0, PRICE));
            }
            tracker.recordCompletion(r, sinkSig, sourceSig);
        }
        assertEq(tracker.windowOf(id, a).completions, 2, "two base fees deposited: two receipts");
    }

    /// @notice A (source, task id) counts once per task type: the same source cannot count the
    /// same task again, not even at another sink.
    function test_recordCompletion_sourceTaskIdCountsOncePerTaskType() public {
        _paidFor(2);
        (address b, uint256 bKey) = _keyedSink("b", id, 100e18);
        bytes32 taskId = keccak256("shared");
        CompletionTracker.Receipt memory r = _now(taskId);
        (bytes memory sinkSig, bytes memory sourceSig) = _signed(r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        CompletionTracker.Receipt memory rb = _receipt(taskId, id, b, src, block.timestamp, block.timestamp + 1);
        (sinkSig, sourceSig) = _signReceipt(bKey, srcKey, rb);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, src, taskId));
        tracker.recordCompletion(rb, sinkSig, sourceSig);
        assertEq(tracker.creditOf(id, src), PRICE, "the refused receipt spent nothing");
    }

    /// @notice Task ids live in their source's namespace: a colluding sink and source that count
    /// a receipt with the honest source's task id first are counted separately (and pay for it),
    /// and cannot block the honest receipt.
    function test_recordCompletion_sameTaskIdFromAnotherSourceCountsSeparately() public {
        _paidFor(1);
        (address b, uint256 bKey) = _keyedSink("b", id, 100e18);
        (address m, uint256 mKey) = _keyedSource("m", 1e18);
        _depositFor(m, id, PRICE); // the front-runner must pay for its own receipt
        bytes32 taskId = keccak256("honest-task");

        CompletionTracker.Receipt memory front = _receipt(taskId, id, b, m, block.timestamp, block.timestamp + 1);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(bKey, mKey, front);
        tracker.recordCompletion(front, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, m, taskId));
        assertFalse(tracker.isCounted(id, src, taskId), "the honest source's id is still free");

        CompletionTracker.Receipt memory honest = _now(taskId);
        (sinkSig, sourceSig) = _signed(honest);
        tracker.recordCompletion(honest, sinkSig, sourceSig);
        assertTrue(tracker.isCounted(id, src, taskId));
        assertEq(tracker.windowOf(id, a).completions, 1, "the honest receipt counts");
        assertEq(tracker.windowOf(id, b).completions, 1);

        // each pair still counts once
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, src, taskId));
        tracker.recordCompletion(honest, sinkSig, sourceSig);
        CompletionTracker.Receipt memory again = _receipt(taskId, id, a, m, block.timestamp, block.timestamp + 1);
        (sinkSig, sourceSig) = _signReceipt(aKey, mKey, again);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, m, taskId));
        tracker.recordCompletion(again, sinkSig, sourceSig);
    }

    /// @notice Receipt grace: a task completed in the last second of an epoch, its receipt
    /// submitted 30 s after the boundary, counts in that epoch's window, which may be judged only
    /// once the grace has passed.
    function test_receiptGrace_lateReceiptCountsInItsWindow() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a); // opens e0's window
        vm.warp((e0 + 1) * EPOCH - 1); // the last second of e0
        uint256 t = block.timestamp;
        CompletionTracker.Receipt[] memory rs = new CompletionTracker.Receipt[](3);
        bytes[] memory sinkSigs = new bytes[](3);
        bytes[] memory sourceSigs = new bytes[](3);
        for (uint256 i; i < 3; ++i) {
            rs[i] = _receipt(keccak256(abi.encode("late", i)), id, a, src, t, t + 1 hours);
            (sinkSigs[i], sourceSigs[i]) = _signed(rs[i]);
        }
        vm.warp((e0 + 1) * EPOCH + 30);
        assertEq(tracker.currentEpoch(), e0 + 1);
        assertEq(tracker.judgeableEpoch(), e0, "e0 is in its grace");
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, e0));
        tracker.advanceEpoch(id, a);
        for (uint256 i; i < 3; ++i) {
            tracker.recordCompletion(rs[i], sinkSigs[i], sourceSigs[i]);
        }
        CompletionTracker.Window memory w = tracker.windowOf(id, a);
        assertEq(w.epoch, e0, "still e0's window");
        assertEq(w.completions, 3, "the late receipts count in it");

        vm.warp((e0 + 1) * EPOCH + RECEIPT_GRACE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0, 1, 6, 3, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(tracker.windowOf(id, a).strikes, 0, "e0 passed thanks to them");
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
        // the epoch is over, but its receipts may still arrive for RECEIPT_GRACE seconds
        vm.warp((e0 + 1) * EPOCH);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, e0));
        tracker.advanceEpoch(id, a);
        vm.warp((e0 + 1) * EPOCH + RECEIPT_GRACE - 1);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, e0));
        tracker.advanceEpoch(id, a);
        vm.warp((e0 + 1) * EPOCH + RECEIPT_GRACE);
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
        assertEq(stakeManager.getCapacityCap(a), 360, "360 units: 18 tasks");
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.allowance, 18, "allowance scaled to the new cap: 20 * 360 / 400");
        assertEq(s.smoothed, 9, "capacity scaled with it");
        assertEq(registry.allocatedCapacity(a), 360);
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
        vm.warp(block.timestamp + EPOCH + 100); // 8 tasks paid by now
        _complete(id, a, aKey, src, srcKey, 8, ++salt); // 8 of 18 expected: < 50 %
        vm.warp((e0 + 3) * EPOCH + RECEIPT_GRACE);
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

    /// @notice Leaving keeps the strikes: a sink that leaves with 2 strikes, right after its
    /// second failed epoch (so its last window expects nothing and does not fail), is slashed
    /// 2/3 of the 10 % when that window is judged, from its unbonding stake; then strikes reset
    /// and later evaluations take nothing more.
    function test_leavingWithTwoStrikesIsSlashedTwoThirds() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(0);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 2);
        vm.startPrank(a);
        registry.deregisterSink(id);
        stakeManager.unstake(STAKE);
        vm.stopPrank();
        assertEq(_units(id, a), 0, "paid nothing more after leaving");

        _toEpochStart();
        uint256 penalty = STAKE * 1_000 * 2 / (BPS * 3); // 26.666... stake tokens
        assertEq(penalty, 26_666_666_666_666_666_666);
        uint256 treasuryBefore = stakeToken.balanceOf(treasury);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 2, 1, 0, 0, 0, penalty);
        vm.expectEmit(true, true, true, true, address(stakeManager));
        emit IStakeManager.Slashed(a, penalty, "UNDERPERFORMANCE");
        vm.prank(mallory);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.accountOf(a).unbonding, STAKE - penalty, "2/3 of 10 % of the unbonding stake");
        assertEq(stakeToken.balanceOf(treasury) - treasuryBefore, penalty);
        assertEq(tracker.windowOf(id, a).strikes, 0, "paid for: the strikes reset");

        _toEpochStart();
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.EpochEvaluated(id, a, e0 + 3, 1, 0, 0, 0, 0);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.accountOf(a).unbonding, STAKE - penalty, "slashed once");
    }

    /// @notice A sink still registered whose window passes keeps nothing: passing clears strikes,
    /// as before (the pro-rata slash applies only to a sink that has left).
    function test_registeredSinkPassingClearsStrikesWithoutSlash() public {
        _stream(src, id, _rate(6));
        tracker.advanceEpoch(id, a);
        _epochWith(0);
        _epochWith(0);
        assertEq(tracker.windowOf(id, a).strikes, 2);
        _epochWith(3);
        assertEq(tracker.windowOf(id, a).strikes, 0);
        assertEq(stakeManager.getStake(a), STAKE, "no pro-rata slash while registered");
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
        vm.warp((e0 + 5) * EPOCH + RECEIPT_GRACE);
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
            vm.warp(block.timestamp + 200); // 2 tasks paid in the epoch by now
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
        vm.warp(block.timestamp + 150); // 6 tasks paid by now
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
        pricing.advanceEpoch(id); // starts the clock
        vm.warp(block.timestamp + 40 * EPOCH);
        pricing.advanceEpoch(id); // no demand: the fee falls to its floor over the skipped epochs
        uint256 floorFee = PRICE * FEE_FLOOR_BPS / BPS;
        assertEq(pricing.baseFee(id), floorFee);
        _toEpochStart();
        _stream(src, id, 2e12); // 0.6 tasks/epoch at the creation price, 6 at the floor fee
        tracker.advanceEpoch(id, a);
        uint256 e = block.timestamp / EPOCH;
        vm.warp(block.timestamp + 100);
        assertEq(tracker.creditOf(id, src), 2 * floorFee, "100 s at 2e12 wei/s: two tasks at the floor fee");
        _complete(id, a, aKey, src, srcKey, 2, ++salt);
        assertEq(tracker.creditOf(id, src), 0, "each receipt spent the current base fee");
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
    /// (Its source streams an epoch ahead, so each epoch's 6 tasks are paid for when completed.)
    function test_advancingOftenCannotSlashAnHonestSink() public {
        _stream(src, id, _rate(6));
        _toEpochStart();
        e0 = block.timestamp / EPOCH;
        tracker.advanceEpoch(id, a);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 100);
            _complete(id, a, aKey, src, srcKey, 6, ++salt);
            _toEpochStart();
            vm.prank(mallory);
            tracker.advanceEpoch(id, a);
            vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, tracker.judgeableEpoch()));
            vm.prank(mallory);
            tracker.advanceEpoch(id, a);
        }
        assertEq(stakeManager.getStake(a), STAKE);
        assertEq(tracker.windowOf(id, a).strikes, 0);
    }
}
