// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {TrackerMarket} from "./utils/TrackerMarket.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {PricingCurve} from "../src/PricingCurve.sol";

/// @notice A contract source (ERC-1271) that its owner can make accept, refuse, burn every gas it
/// gets, or burn most of it and then accept (so the receipt runs out of gas further on).
contract Signer1271 is IERC1271 {
    enum Mode {
        Accept,
        Refuse,
        BurnAll,
        BurnThenAccept
    }

    Mode public mode;

    function setMode(Mode m) external {
        mode = m;
    }

    function isValidSignature(bytes32, bytes memory) external view returns (bytes4) {
        Mode m = mode;
        if (m == Mode.Refuse) return 0xffffffff;
        if (m == Mode.BurnAll) {
            while (true) {}
        }
        if (m == Mode.BurnThenAccept) {
            while (gasleft() > 3_000) {}
        }
        return IERC1271.isValidSignature.selector;
    }
}

/// @notice CompletionTracker.recordCompletions: a batch counts exactly the items recordCompletion
/// would count, skips every other one with its error's selector (never reverting for an item),
/// contains hostile items (gas burners, revert-data bombs) within RECORD_GAS each, refuses to run
/// short of gas instead of skipping honest items, and ends in the same state as the same receipts
/// recorded one by one.
contract CompletionTrackerBatchTest is TrackerMarket {
    address internal mallory;
    uint256 internal malloryKey;

    function setUp() public override {
        super.setUp();
        (mallory, malloryKey) = makeAddrAndKey("mallory");
    }

    // ---------------------------------------------------------------- helpers

    function _now(bytes32 taskId) internal view returns (CompletionTracker.Receipt memory) {
        return _receipt(taskId, id, a, src, block.timestamp, block.timestamp + 1 hours);
    }

    function _item(CompletionTracker.Receipt memory r, uint256 sinkKey, uint256 sourceKey)
        internal
        view
        returns (CompletionTracker.SignedReceipt memory item)
    {
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(sinkKey, sourceKey, r);
        item = CompletionTracker.SignedReceipt({receipt: r, sinkSignature: sinkSig, sourceSignature: sourceSig});
    }

    function _good(bytes32 taskId) internal view returns (CompletionTracker.SignedReceipt memory) {
        return _item(_now(taskId), aKey, srcKey);
    }

    /// @notice src streams 6 tasks/epoch (2e13 wei/s) and has paid for `tasks` of them.
    function _paidFor(uint256 tasks) internal {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + tasks * 50);
        assertEq(tracker.creditOf(id, src), tasks * PRICE);
    }

    /// @notice Submits the batch; returns what it counted, the gas the call used and its
    /// CompletionSkipped events as (index, reason) pairs.
    function _submit(CompletionTracker.SignedReceipt[] memory items)
        internal
        returns (uint256 counted, uint256 used, uint256[] memory indexes, bytes4[] memory reasons)
    {
        vm.recordLogs();
        uint256 before = gasleft();
        counted = tracker.recordCompletions(items);
        used = before - gasleft();
        (indexes, reasons) = _skips(vm.getRecordedLogs());
    }

    function _skips(Vm.Log[] memory logs) internal view returns (uint256[] memory indexes, bytes4[] memory reasons) {
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(tracker) && logs[i].topics[0] == CompletionTracker.CompletionSkipped.selector) ++n;
        }
        indexes = new uint256[](n);
        reasons = new bytes4[](n);
        n = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(tracker) || logs[i].topics[0] != CompletionTracker.CompletionSkipped.selector) continue;
            (, uint256 index, bytes4 reason) = abi.decode(logs[i].data, (address, uint256, bytes4));
            (indexes[n], reasons[n]) = (index, reason);
            ++n;
        }
    }

    function _contractSource(Signer1271.Mode mode, uint256 credit) internal returns (Signer1271 signer) {
        signer = new Signer1271();
        signer.setMode(mode);
        underlying.mint(address(signer), credit);
        vm.startPrank(address(signer));
        underlying.approve(address(token), credit);
        token.upgrade(credit);
        token.approve(address(buffer), credit);
        buffer.deposit(id, credit);
        vm.stopPrank();
        assertEq(tracker.creditOf(id, address(signer)), credit, "setup: the contract source's deposit is its credit");
    }

    // ---------------------------------------------------------------- good and bad items

    /// @notice One batch holding 5 good receipts and one of every kind of bad one: exactly the 5
    /// count, each bad one is skipped with its index and recordCompletion's error selector, in
    /// order, and nothing reverts.
    function test_batch_countsTheGoodSkipsEveryKindOfBad() public {
        _paidFor(6); // credit for 6: five good ones, then the 6th unpaid by a source that streams nothing
        _recordAlone(keccak256("earlier")); // opens the window
        (address stranger, uint256 strangerKey) = makeAddrAndKey("stranger");
        (address poor, uint256 poorKey) = _keyedSource("poor", 1e18); // funded, never streams

        uint256 t = block.timestamp;
        uint256 windowStart = uint256(tracker.windowOf(id, a).epoch) * EPOCH;
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](16);
        items[0] = _good(keccak256("g0"));
        items[1] = _item(_receipt(keccak256("b1"), id, stranger, src, t, t + 1), strangerKey, srcKey); // NotRegistered
        items[2] = _item(_receipt(keccak256("b2"), id, a, a, t, t + 1), aKey, aKey); // SelfCertified
        items[3] = _item(_receipt(keccak256("b3"), id, a, src, t, t - 1), aKey, srcKey); // CompletedAfterDeadline
        items[4] = _good(keccak256("g4"));
        items[5] = _item(_receipt(keccak256("b5"), id, a, src, t + 1, t + 100), aKey, srcKey); // CompletedInFuture
        items[6] = _item(_receipt(keccak256("b6"), id, a, src, windowStart - 1, t + 100), aKey, srcKey); // before window
        items[7] = _good(keccak256("earlier")); // AlreadyCounted (before the batch)
        items[8] = _good(keccak256("g4")); // AlreadyCounted (earlier in the same batch)
        items[9] = _item(_now(keccak256("b9")), aKey, malloryKey); // InvalidSignature(src)
        items[10] = _item(_now(keccak256("b10")), malloryKey, srcKey); // InvalidSignature(a)
        items[11] = _item(_receipt(keccak256("b11"), id, a, poor, t, t + 100), aKey, poorKey); // UnpaidReceipt
        items[12] = _good(keccak256("g12"));
        items[13] = _good(keccak256("g13"));
        items[14] = _good(keccak256("g14"));
        items[15] = _good(keccak256("g15")); // the credit is spent: UnpaidReceipt

        bytes4[16] memory expected;
        expected[1] = CompletionTracker.NotRegistered.selector;
        expected[2] = CompletionTracker.SelfCertified.selector;
        expected[3] = CompletionTracker.CompletedAfterDeadline.selector;
        expected[5] = CompletionTracker.CompletedInFuture.selector;
        expected[6] = CompletionTracker.ReceiptBeforeWindow.selector;
        expected[7] = CompletionTracker.AlreadyCounted.selector;
        expected[8] = CompletionTracker.AlreadyCounted.selector;
        expected[9] = CompletionTracker.InvalidSignature.selector;
        expected[10] = CompletionTracker.InvalidSignature.selector;
        expected[11] = CompletionTracker.UnpaidReceipt.selector;
        expected[15] = CompletionTracker.UnpaidReceipt.selector;

        for (uint256 i; i < items.length; ++i) {
            if (expected[i] != bytes4(0)) {
                vm.expectEmit(true, true, true, true, address(tracker));
                CompletionTracker.Receipt memory r = items[i].receipt;
                emit CompletionTracker.CompletionSkipped(r.taskTypeId, r.sink, r.taskId, r.source, i, expected[i]);
            } else {
                vm.expectEmit(true, true, true, true, address(tracker));
                emit CompletionTracker.CompletionRecorded(id, a, items[i].receipt.taskId, src);
            }
        }
        vm.expectEmit(true, true, true, true, address(tracker));
        emit CompletionTracker.CompletionsRecorded(mallory, 5, 11);
        vm.prank(mallory); // anyone may submit
        uint256 counted = tracker.recordCompletions(items);

        assertEq(counted, 5, "the five good receipts");
        assertEq(tracker.windowOf(id, a).completions, 6, "five plus the one recorded before");
        assertEq(tracker.creditOf(id, src), 0, "six base fees spent, no more");
        for (uint256 i; i < items.length; ++i) {
            CompletionTracker.Receipt memory r = items[i].receipt;
            bool good = expected[i] == bytes4(0) || i == 7 || i == 8;
            assertEq(tracker.isCounted(id, r.source, r.taskId), good, "counted exactly the good ones");
        }
        assertFalse(tracker.isCounted(id, a, keccak256("b2")));
    }

    function _recordAlone(bytes32 taskId) internal {
        CompletionTracker.SignedReceipt memory it = _good(taskId);
        tracker.recordCompletion(it.receipt, it.sinkSignature, it.sourceSignature);
    }

    /// @notice A failed item is undone whole: the window it would have opened stays closed, the
    /// credit it would have spent stays; an empty batch counts nothing and reverts nothing.
    function test_batch_skippedItemsLeaveNoTrace() public {
        CompletionTracker.SignedReceipt[] memory none = new CompletionTracker.SignedReceipt[](0);
        assertEq(tracker.recordCompletions(none), 0);

        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](1);
        items[0] = _good(keccak256("unpaid")); // no credit: UnpaidReceipt after the window would open
        assertEq(tracker.recordCompletions(items), 0);
        assertFalse(tracker.windowOf(id, a).opened, "the refused item's window opening was undone");
    }

    // ---------------------------------------------------------------- hostile items

    /// @notice ERC-1271 sources are checked in a batch exactly as alone: one that accepts counts,
    /// one that refuses is InvalidSignature. One that burns every gas it is given, or burns most and
    /// then accepts (so the receipt runs out further on), costs the batch at most RECORD_GAS and is
    /// skipped as RecordOutOfGas; the honest items around them all count.
    function test_batch_hostileSignersAreContained() public {
        _paidFor(4);
        Signer1271 accepting = _contractSource(Signer1271.Mode.Accept, 10 * PRICE);
        Signer1271 refusing = _contractSource(Signer1271.Mode.Refuse, 10 * PRICE);
        Signer1271 burner = _contractSource(Signer1271.Mode.BurnAll, 10 * PRICE);
        Signer1271 lateBurner = _contractSource(Signer1271.Mode.BurnThenAccept, 10 * PRICE);

        uint256 t = block.timestamp;
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](8);
        items[0] = _good(keccak256("g0"));
        items[1] = _item(_receipt(keccak256("h1"), id, a, address(accepting), t, t + 100), aKey, malloryKey);
        items[2] = _item(_receipt(keccak256("h2"), id, a, address(burner), t, t + 100), aKey, malloryKey);
        items[3] = _good(keccak256("g3"));
        items[4] = _item(_receipt(keccak256("h4"), id, a, address(refusing), t, t + 100), aKey, malloryKey);
        items[5] = _item(_receipt(keccak256("h5"), id, a, address(lateBurner), t, t + 100), aKey, malloryKey);
        items[6] = _good(keccak256("g6"));
        items[7] = _good(keccak256("g7"));

        (uint256 counted, uint256 used, uint256[] memory indexes, bytes4[] memory reasons) = _submit(items);

        assertEq(counted, 5, "four honest receipts and the accepting contract source");
        assertEq(indexes.length, 3);
        assertEq(indexes[0], 2);
        assertEq(reasons[0], CompletionTracker.RecordOutOfGas.selector, "the burner used up the allowance");
        assertEq(indexes[1], 4);
        assertEq(reasons[1], CompletionTracker.InvalidSignature.selector, "a refusing ERC-1271 source");
        assertEq(indexes[2], 5);
        assertEq(reasons[2], CompletionTracker.RecordOutOfGas.selector, "ran out after the burn");
        assertTrue(tracker.isCounted(id, address(accepting), keccak256("h1")), "ERC-1271 counts in a batch");
        assertEq(tracker.creditOf(id, address(lateBurner)), 10 * PRICE, "nothing spent by the skipped item");
        assertLt(used, 2 * tracker.RECORD_GAS() + 6 * 150_000, "two burners cost at most their allowance each");
    }

    /// @notice Revert data the tracker bubbles up from a call it makes (here the pricing contract,
    /// for one task type, reverting with 150 kB) is not copied into the batch: only its selector is
    /// read, so ten such items cost no more than ten allowances and the honest ones still count.
    function test_batch_revertDataBombIsNotCopied() public {
        _paidFor(2);
        bytes32 bombed = _taskType("bombed", 1_000e18);
        (address b, uint256 bKey) = _keyedSink("b", bombed, STAKE);
        _declareUntilSettled(b, bombed, 10);
        _stream(src, bombed, _rate(3));
        vm.warp(block.timestamp + 100);
        bytes memory bomb = new bytes(150_000);
        bomb[0] = 0xde;
        bomb[1] = 0xad;
        vm.mockCallRevert(address(pricing), abi.encodeCall(PricingCurve.baseFee, (bombed)), bomb);

        uint256 t = block.timestamp;
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](12);
        items[0] = _good(keccak256("g0"));
        for (uint256 i = 1; i < 11; ++i) {
            items[i] = _item(_receipt(keccak256(abi.encode("bomb", i)), bombed, b, src, t, t + 100), bKey, srcKey);
        }
        items[11] = _good(keccak256("g11"));

        (uint256 counted, uint256 used, uint256[] memory indexes, bytes4[] memory reasons) = _submit(items);
        assertEq(counted, 2);
        assertEq(indexes.length, 10);
        for (uint256 i; i < 10; ++i) {
            assertEq(indexes[i], i + 1);
            assertEq(reasons[i], bytes4(0xdead0000), "the first four bytes of whatever came back");
        }
        assertLt(used, 10 * tracker.RECORD_GAS() + 2 * 150_000, "each bomb within its allowance");
    }

    /// @notice A submitter cannot make an honest item fail for lack of gas: every item must be able
    /// to have its full RECORD_GAS, else the batch reverts InsufficientGas (and an estimate finds
    /// the gas of the batch plus one allowance).
    function test_batch_tooLittleGasRevertsInsteadOfSkipping() public {
        _paidFor(3);
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](3);
        for (uint256 i; i < 3; ++i) {
            items[i] = _good(keccak256(abi.encode("g", i)));
        }
        uint256 required = tracker.RECORD_GAS() + tracker.RECORD_GAS() / 63 + 10_000;
        vm.expectPartialRevert(CompletionTracker.InsufficientGas.selector);
        tracker.recordCompletions{gas: required + 100_000}(items); // enough for the first, not the third
        assertEq(tracker.windowOf(id, a).completions, 0, "nothing counted, nothing skipped");

        uint256 counted = tracker.recordCompletions{gas: required + 3 * 150_000}(items);
        assertEq(counted, 3, "the gas of the batch plus one allowance is enough");
    }

    // ---------------------------------------------------------------- equivalence

    /// @notice The same receipts, batched or one by one (each refused one reverting alone), end
    /// in the same state: the same ones counted, the same credit, the same window; and the batch
    /// skips exactly the ones that reverted, with the selectors they reverted with.
    function testFuzz_batch_sameEndStateAsOneByOne(uint256 seed, uint8 count, uint8 paid) public {
        uint256 n = bound(count, 1, 24);
        _paidFor(bound(paid, 1, 20));
        (address poor, uint256 poorKey) = _keyedSource("poor", 1e18);
        _recordAlone(keccak256("t0")); // opens the window
        uint256 windowStart = uint256(tracker.windowOf(id, a).epoch) * EPOCH;
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](n);
        uint256 t = block.timestamp;
        for (uint256 i; i < n; ++i) {
            uint256 pick = uint256(keccak256(abi.encode(seed, i)));
            bytes32 taskId = keccak256(abi.encode("t", pick % 7)); // ids repeat: duplicates happen
            uint256 kind = (pick >> 8) % 9;
            CompletionTracker.Receipt memory r = _now(taskId);
            if (kind == 0) r.completedAt = uint64(t + 1); // CompletedInFuture
            if (kind == 1) r.deadline = uint64(t - 1); // CompletedAfterDeadline
            if (kind == 2) r.completedAt = uint64(windowStart - 1); // before the window
            if (kind == 3) r.source = poor; // unpaid
            uint256 sinkKey = kind == 4 ? malloryKey : aKey;
            uint256 sourceKey = kind == 3 ? poorKey : kind == 5 ? malloryKey : srcKey;
            items[i] = _item(r, sinkKey, sourceKey);
        }

        uint256 snapshot = vm.snapshotState();
        bool[] memory ok = new bool[](n);
        bytes4[] memory errs = new bytes4[](n);
        for (uint256 i; i < n; ++i) {
            try tracker.recordCompletion(items[i].receipt, items[i].sinkSignature, items[i].sourceSignature) {
                ok[i] = true;
            } catch (bytes memory reason) {
                errs[i] = bytes4(reason);
            }
        }
        bytes memory single = _state(items, poor);
        vm.revertToState(snapshot);

        (uint256 counted,, uint256[] memory indexes, bytes4[] memory reasons) = _submit(items);
        assertEq(keccak256(_state(items, poor)), keccak256(single), "the same end state");
        uint256 k;
        uint256 good;
        for (uint256 i; i < n; ++i) {
            if (ok[i]) {
                ++good;
                continue;
            }
            assertEq(indexes[k], i, "skipped exactly the refused ones");
            assertEq(reasons[k], errs[i], "with the error they are refused with");
            ++k;
        }
        assertEq(k, indexes.length);
        assertEq(counted, good);
    }

    function _state(CompletionTracker.SignedReceipt[] memory items, address poor) internal view returns (bytes memory s) {
        CompletionTracker.Window memory w = tracker.windowOf(id, a);
        s = abi.encode(w, tracker.creditOf(id, src), tracker.creditOf(id, poor));
        for (uint256 i; i < items.length; ++i) {
            CompletionTracker.Receipt memory r = items[i].receipt;
            s = abi.encodePacked(s, tracker.isCounted(id, r.source, r.taskId));
        }
    }

    // ---------------------------------------------------------------- gas

    /// @notice Gas of a batch of 50 receipts against 50 single calls in the same test (forge keeps
    /// accounts warm across calls of one test, so the single calls here look cheaper than on a
    /// chain: bench/gas.ts measures real transactions). Logged for the record; bounded loosely.
    function test_gas_batchOf50() public {
        _paidFor(100);
        CompletionTracker.SignedReceipt[] memory items = new CompletionTracker.SignedReceipt[](50);
        for (uint256 i; i < 50; ++i) {
            items[i] = _good(keccak256(abi.encode("batch", i)));
        }
        uint256 before = gasleft();
        assertEq(tracker.recordCompletions(items), 50);
        uint256 batched = (before - gasleft()) / 50;

        CompletionTracker.SignedReceipt[] memory singles = new CompletionTracker.SignedReceipt[](50);
        for (uint256 i; i < 50; ++i) {
            singles[i] = _good(keccak256(abi.encode("single", i)));
        }
        before = gasleft();
        for (uint256 i; i < 50; ++i) {
            tracker.recordCompletion(singles[i].receipt, singles[i].sinkSignature, singles[i].sourceSignature);
        }
        uint256 single = (before - gasleft()) / 50;
        emit log_named_uint("gas per receipt, batch of 50", batched);
        emit log_named_uint("gas per receipt, single calls (all warm here)", single);
        assertLt(batched, 80_000, "a receipt in a batch");
    }
}
