// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Vm} from "forge-std/Vm.sol";
import {BPETest} from "./utils/BPETest.sol";
import {OffchainAggregator} from "../src/OffchainAggregator.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";
import {ICapacityRegistry} from "../src/interfaces/ICapacityRegistry.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";

/// @notice OffchainAggregator: EIP-712 capacity attestations relayed in batches by anyone. Every
/// rejection reason, batches mixing good and bad items (never reverting), and the equivalence with
/// commit-reveal (same cap, EWMA and rate limit; commit-reveal stays open to every sink).
contract OffchainAggregatorTest is BPETest {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    bytes32 internal id;
    address internal a;
    uint256 internal aKey;
    address internal b;
    uint256 internal bKey;
    address internal stranger;
    uint256 internal strangerKey;
    address internal relayer = makeAddr("relayer");

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = _taskType("llm", 1_000e18);
        (a, aKey) = _keyedSink("a", id, 400e18); // cap 20 tasks/epoch
        (b, bKey) = _keyedSink("b", id, 900e18); // cap 45 tasks/epoch
        (stranger, strangerKey) = makeAddrAndKey("stranger"); // never registers
    }

    function _item(uint256 key, address sink, uint256 capacity, uint256 backlog, uint256 nonce)
        internal
        view
        returns (Attestation memory)
    {
        return _attestation(key, id, sink, capacity, backlog, nonce, block.timestamp);
    }


    function _relay(Attestation[] memory items) internal returns (uint256 accepted) {
        vm.prank(relayer);
        accepted = aggregator.submitAttestations(_pack(items));
    }

    /// @notice Relays one item that must be rejected for `reason`, leaving the sink's state as it was.
    function _expectRejected(Attestation memory x, ICapacityRegistry.Rejection reason) internal {
        CapacityRegistry.SinkState memory before = registry.sinkState(x.taskTypeId, x.sink);
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationRejected(x.taskTypeId, x.sink, x.nonce, reason);
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationsSubmitted(relayer, 0, 1);
        assertEq(_relay(_one(x)), 0);
        CapacityRegistry.SinkState memory s = registry.sinkState(x.taskTypeId, x.sink);
        assertEq(s.smoothed, before.smoothed, "capacity untouched");
        assertEq(s.backlog, before.backlog, "backlog untouched");
        assertEq(s.nonce, before.nonce, "nonce not consumed");
        assertEq(s.lastUpdate, before.lastUpdate, "rate limit not consumed");
    }

    // ---------------------------------------------------------------- construction and digest

    function test_constructor_wiring() public view {
        assertEq(address(aggregator.registry()), address(registry));
        assertEq(registry.aggregator(), address(aggregator), "the registry accepts only this aggregator");
        assertEq(aggregator.maxAge(), ATTESTATION_MAX_AGE);
        assertEq(aggregator.maxSkew(), ATTESTATION_MAX_SKEW);
    }

    function test_attestationDigest_isEIP712() public view {
        assertEq(
            aggregator.ATTESTATION_TYPEHASH(),
            keccak256(
                "CapacityAttestation(bytes32 taskTypeId,address sink,uint64 capacity,uint64 backlog,uint32 nonce,uint64 timestamp)"
            )
        );
        Attestation memory x = _item(aKey, a, 12, 3, 7);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("BPE OffchainAggregator"),
                keccak256("1"),
                block.chainid,
                address(aggregator)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(aggregator.ATTESTATION_TYPEHASH(), id, a, uint64(12), uint64(3), uint32(7), x.timestamp)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        assertEq(_digest(aggregator, x), digest);
        // the fixture's compact signature is EIP-2098's
        (bytes32 r, bytes32 vs) = _signCompact(aKey, digest);
        (bytes32 r2, bytes32 vs2) = vm.signCompact(aKey, digest);
        assertEq(r, r2);
        assertEq(vs, vs2);
    }

    // ---------------------------------------------------------------- accepted

    function test_submit_appliesOneEwmaStep() public {
        vm.recordLogs();
        assertEq(_relay(_one(_item(aKey, a, 10, 0, 1))), 1);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        CapacityRegistry.SinkState memory s = registry.sinkState(id, a);
        assertEq(s.smoothed, 3, "0.3 * 10");
        assertEq(s.nonce, 1);
        assertEq(s.lastUpdate, block.timestamp);
        assertEq(registry.totalCapacity(id), 3);
        assertEq(_units(id, a), 3_000, "units follow at once");
        // events: the pool's re-weighting and the batch summary; no per-item registry event
        bool sawUnits;
        bool sawSummary;
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(registry), "the registry stays silent on relayed attestations");
            if (logs[i].topics[0] == BackpressurePool.SinkUnitsUpdated.selector) sawUnits = true;
            if (logs[i].topics[0] == OffchainAggregator.AttestationsSubmitted.selector) {
                sawSummary = true;
                assertEq(logs[i].topics[1], bytes32(uint256(uint160(relayer))));
                (uint256 acceptedCount, uint256 rejectedCount) = abi.decode(logs[i].data, (uint256, uint256));
                assertEq(acceptedCount, 1);
                assertEq(rejectedCount, 0);
            }
        }
        assertTrue(sawUnits && sawSummary);
    }

    function test_submit_emptyBatch() public {
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationsSubmitted(relayer, 0, 0);
        assertEq(_relay(new Attestation[](0)), 0);
    }

    function test_submit_anyoneMayRelay() public {
        vm.prank(a); // the sink itself
        assertEq(aggregator.submitAttestations(_pack(_one(_item(aKey, a, 10, 0, 1)))), 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        vm.prank(b); // a competitor relaying a's attestation cannot alter it
        assertEq(aggregator.submitAttestations(_pack(_one(_item(aKey, a, 10, 0, 2)))), 1);
        assertEq(registry.sinkState(id, a).smoothed, 6);
    }

    function test_submit_backlogMovesWeightAndPrice() public {
        _relay(_one(_item(aKey, a, 20, 6, 1))); // smoothed 6, backlog 6
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 6);
        assertEq(backlog, 6);
        assertEq(registry.weightOf(id, a), 3, "6 / (1 + 6 / 6)");
        assertEq(_units(id, a), 3_000);
        assertEq(pricing.priceOf(id, a), 2 * PRICE, "base * (1 + 6 / 6)");
    }

    /// @notice A change inside the 5 % deadband is recorded but costs no GDA call.
    function test_submit_insideDeadbandDoesNotTouchThePool() public {
        _declareUntilSettled(b, id, 30);
        bpPool.rebalance(id);
        assertEq(_units(id, b), 30_000);
        vm.recordLogs();
        _relay(_one(_item(bKey, b, 30, 1, 1))); // weight 30 -> 29: 3.3 %
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].emitter != address(bpPool), "no pool call inside the deadband");
        }
        assertEq(registry.weightOf(id, b), 29);
        assertEq(registry.totalWeight(id), 29, "the total is exact nonetheless");
        assertEq(registry.sinkState(id, b).pushed, 30);
        assertEq(_units(id, b), 30_000);
    }

    // ---------------------------------------------------------------- each rejection

    function test_reject_stale() public {
        _expectRejected(
            _attestation(aKey, id, a, 10, 0, 1, block.timestamp - ATTESTATION_MAX_AGE - 1),
            ICapacityRegistry.Rejection.Stale
        );
        // exactly maxAge old is still fresh
        assertEq(_relay(_one(_attestation(aKey, id, a, 10, 0, 1, block.timestamp - ATTESTATION_MAX_AGE))), 1);
    }

    function test_reject_fromTheFuture() public {
        _expectRejected(
            _attestation(aKey, id, a, 10, 0, 1, block.timestamp + ATTESTATION_MAX_SKEW + 1),
            ICapacityRegistry.Rejection.FromTheFuture
        );
        // a signer clock ahead by at most maxSkew is tolerated
        assertEq(_relay(_one(_attestation(aKey, id, a, 10, 0, 1, block.timestamp + ATTESTATION_MAX_SKEW))), 1);
    }

    function test_reject_badSignature_wrongSigner() public {
        _expectRejected(_item(strangerKey, a, 10, 0, 1), ICapacityRegistry.Rejection.BadSignature);
        _expectRejected(_item(bKey, a, 10, 0, 1), ICapacityRegistry.Rejection.BadSignature);
    }

    function test_reject_badSignature_tamperedFields() public {
        Attestation memory x = _item(aKey, a, 10, 0, 1);
        x.capacity = 20; // raised by the relayer
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        x = _item(aKey, a, 10, 5, 1);
        x.backlog = 0;
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        x = _item(aKey, a, 10, 0, 1);
        x.nonce = 2;
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        x = _item(aKey, a, 10, 0, 1);
        x.timestamp += 1;
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        // signed for another task type, relayed for this one
        bytes32 other = _taskType("other", 0);
        x = _attestation(aKey, other, a, 10, 0, 1, block.timestamp);
        x.taskTypeId = id;
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
    }

    function test_reject_badSignature_malformed() public {
        Attestation memory x = _item(aKey, a, 10, 0, 1);
        x.r = bytes32(0);
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        x = _item(aKey, a, 10, 0, 1);
        x.vs = bytes32(0);
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        x = _item(aKey, a, 10, 0, 1);
        x.r = bytes32(0);
        x.vs = bytes32(0);
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        // the other parity (v flipped): recovers some other key
        x = _item(aKey, a, 10, 0, 1);
        x.vs = bytes32(uint256(x.vs) ^ (1 << 255));
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        // the malleable twin: s' = n - s (invalid s), parity flipped
        x = _item(aKey, a, 10, 0, 1);
        uint256 s = uint256(x.vs) & ((1 << 255) - 1);
        uint256 parity = uint256(x.vs) >> 255;
        x.vs = bytes32((SECP256K1_N - s) | ((parity ^ 1) << 255));
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        // r not on the curve's x range
        x = _item(aKey, a, 10, 0, 1);
        x.r = bytes32(type(uint256).max);
        _expectRejected(x, ICapacityRegistry.Rejection.BadSignature);
        // and the well-formed original is still accepted
        assertEq(_relay(_one(_item(aKey, a, 10, 0, 1))), 1);
    }

    function test_reject_notRegistered() public {
        _expectRejected(_item(strangerKey, stranger, 10, 0, 1), ICapacityRegistry.Rejection.NotRegistered);
        bytes32 unknown = keccak256("unknown");
        _expectRejected(
            _attestation(aKey, unknown, a, 10, 0, 1, block.timestamp), ICapacityRegistry.Rejection.NotRegistered
        );
        // a deregistered sink's attestations are refused too
        _deregister(b, id);
        _expectRejected(_item(bKey, b, 10, 0, 1), ICapacityRegistry.Rejection.NotRegistered);
    }

    function test_reject_nonceNotIncreasing() public {
        Attestation memory first = _item(aKey, a, 10, 0, 5);
        assertEq(_relay(_one(first)), 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL); // past the rate limit, still fresh
        _expectRejected(first, ICapacityRegistry.Rejection.NonceNotIncreasing); // replayed
        _expectRejected(_item(aKey, a, 20, 0, 5), ICapacityRegistry.Rejection.NonceNotIncreasing); // same nonce
        _expectRejected(_item(aKey, a, 20, 0, 4), ICapacityRegistry.Rejection.NonceNotIncreasing); // lower
        _expectRejected(_item(aKey, a, 20, 0, 0), ICapacityRegistry.Rejection.NonceNotIncreasing);
        assertEq(_relay(_one(_item(aKey, a, 20, 0, 6))), 1, "the next nonce is accepted");
    }

    function test_reject_tooFrequent() public {
        assertEq(_relay(_one(_item(aKey, a, 10, 0, 1))), 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL - 1);
        _expectRejected(_item(aKey, a, 20, 0, 2), ICapacityRegistry.Rejection.TooFrequent);
        vm.warp(block.timestamp + 1);
        assertEq(_relay(_one(_item(aKey, a, 20, 0, 2))), 1, "nonce 2 was not consumed by the rejection");
    }

    function test_reject_outOfRange() public {
        uint256 max = registry.MAX_VALUE();
        _expectRejected(_item(aKey, a, max + 1, 0, 1), ICapacityRegistry.Rejection.OutOfRange);
        _expectRejected(_item(aKey, a, 10, max + 1, 1), ICapacityRegistry.Rejection.OutOfRange);
        _expectRejected(_item(aKey, a, type(uint64).max, type(uint64).max, 1), ICapacityRegistry.Rejection.OutOfRange);
        // the largest value is accepted, and capped by the allowance like any declaration
        assertEq(_relay(_one(_item(aKey, a, max, 0, 1))), 1);
        assertEq(registry.sinkState(id, a).smoothed, 6, "0.3 * min(2^40 - 1, allowance 20)");
    }

    function test_applyAttestation_onlyTheAggregator() public {
        address[3] memory callers = [relayer, a, address(bpPool)];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotAggregator.selector, callers[i]));
            vm.prank(callers[i]);
            registry.applyAttestations(id, abi.encodePacked(a, uint64(10), uint64(0), uint32(1)));
        }
    }

    // ---------------------------------------------------------------- batches

    /// @notice Eleven items, two good: every bad one is skipped with its reason, in order; the
    /// good ones land exactly as if relayed alone; the batch does not revert.
    function test_batch_mixedItemsNeverRevert() public {
        Attestation[] memory items = new Attestation[](11);
        items[0] = _item(aKey, a, 10, 0, 1); // valid
        items[1] = _item(aKey, b, 10, 0, 1); // b's item signed by a
        items[2] = _item(bKey, b, 10, 0, 1);
        items[2].r = bytes32(0); // malformed
        items[3] = items[0]; // replay of item 0
        items[4] = _item(bKey, b, 30, 3, 1); // valid
        items[5] = _attestation(bKey, id, b, 30, 0, 2, block.timestamp - ATTESTATION_MAX_AGE - 1); // stale
        items[6] = _attestation(bKey, id, b, 30, 0, 3, block.timestamp + ATTESTATION_MAX_SKEW + 1); // future
        items[7] = _item(strangerKey, stranger, 10, 0, 1); // not registered
        items[8] = _item(aKey, a, 20, 0, 2); // a second step in the same block
        items[9] = _item(bKey, b, 2 ** 40, 0, 4); // out of range
        items[10] = _item(aKey, a, 20, 0, 0); // reordered: below the accepted nonce

        ICapacityRegistry.Rejection[11] memory reasons = [
            ICapacityRegistry.Rejection.None,
            ICapacityRegistry.Rejection.BadSignature,
            ICapacityRegistry.Rejection.BadSignature,
            ICapacityRegistry.Rejection.NonceNotIncreasing,
            ICapacityRegistry.Rejection.None,
            ICapacityRegistry.Rejection.Stale,
            ICapacityRegistry.Rejection.FromTheFuture,
            ICapacityRegistry.Rejection.NotRegistered,
            ICapacityRegistry.Rejection.TooFrequent,
            ICapacityRegistry.Rejection.OutOfRange,
            ICapacityRegistry.Rejection.NonceNotIncreasing
        ];
        for (uint256 i; i < items.length; ++i) {
            if (reasons[i] == ICapacityRegistry.Rejection.None) continue;
            vm.expectEmit(true, true, true, true, address(aggregator));
            emit OffchainAggregator.AttestationRejected(items[i].taskTypeId, items[i].sink, items[i].nonce, reasons[i]);
        }
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationsSubmitted(relayer, 2, 9);
        assertEq(_relay(items), 2);

        CapacityRegistry.SinkState memory sa = registry.sinkState(id, a);
        CapacityRegistry.SinkState memory sb = registry.sinkState(id, b);
        assertEq(sa.smoothed, 3, "a: one step toward 10");
        assertEq(sa.nonce, 1);
        assertEq(sb.smoothed, 9, "b: one step toward 30");
        assertEq(sb.backlog, 3);
        assertEq(sb.nonce, 1);
        assertEq(registry.totalCapacity(id), 12);
        assertEq(_units(id, a), 3_000);
        assertEq(_units(id, b), registry.weightOf(id, b) * UNIT_SCALE);
    }

    /// @notice The packed layout, byte by byte: a group header (task type, 2-byte count) and
    /// 112-byte items at the signed types' full widths.
    function test_batch_packedLayout() public {
        assertEq(aggregator.GROUP_HEADER_BYTES(), 34);
        assertEq(aggregator.ITEM_BYTES(), 112);
        Attestation memory x = _item(aKey, a, 12, 3, 7);
        bytes memory batch = abi.encodePacked(
            id, uint16(1), a, uint64(12), uint64(3), uint32(7), uint64(block.timestamp), x.r, x.vs
        );
        assertEq(batch.length, 34 + 112);
        assertEq(keccak256(batch), keccak256(_pack(_one(x))), "the fixture packs the same bytes");
        vm.prank(relayer);
        assertEq(aggregator.submitAttestations(batch), 1);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, a);
        assertEq(capacity, 4, "ceil(0.3 * 12)");
        assertEq(backlog, 3);
        assertEq(registry.sinkState(id, a).nonce, 7);
    }

    /// @notice A batch that does not split into whole groups is the relayer's encoding error: it
    /// reverts as a whole (no item can be told apart), and nothing is applied.
    function test_batch_malformedReverts() public {
        bytes memory one = _pack(_one(_item(aKey, a, 10, 0, 1)));
        bytes memory shortHeader = new bytes(33);
        vm.expectRevert(abi.encodeWithSelector(OffchainAggregator.MalformedBatch.selector, 0));
        aggregator.submitAttestations(shortHeader);
        // a count of 2 with one item
        bytes memory overCounted = bytes.concat(id, bytes2(uint16(2)), _slice(one, 34, one.length));
        vm.expectRevert(abi.encodeWithSelector(OffchainAggregator.MalformedBatch.selector, 0));
        aggregator.submitAttestations(overCounted);
        // a whole first group, then a truncated one
        bytes memory truncated = bytes.concat(one, _slice(_pack(_one(_item(bKey, b, 10, 0, 1))), 0, 34 + 111));
        vm.expectRevert(abi.encodeWithSelector(OffchainAggregator.MalformedBatch.selector, one.length));
        aggregator.submitAttestations(truncated);
        // a trailing partial header
        vm.expectRevert(abi.encodeWithSelector(OffchainAggregator.MalformedBatch.selector, one.length));
        aggregator.submitAttestations(bytes.concat(one, bytes1(0x01)));
        assertEq(registry.sinkState(id, a).nonce, 0, "nothing applied");
        // an empty group is harmless
        vm.prank(relayer);
        assertEq(aggregator.submitAttestations(bytes.concat(keccak256("any"), bytes2(0), one)), 1);
    }

    /// @notice Items of several task types interleaved: one group per run, every item judged in
    /// its own task type, rejections reported in the order given.
    function test_batch_groupsOfSeveralTaskTypes() public {
        bytes32 other = _taskType("other", 0);
        (address c, uint256 cKey) = _keyedSink("c", other, 400e18);
        Attestation[] memory items = new Attestation[](4);
        items[0] = _item(aKey, a, 10, 0, 1);
        items[1] = _attestation(cKey, other, c, 10, 0, 1, block.timestamp);
        items[2] = _attestation(bKey, other, b, 10, 0, 1, block.timestamp); // b is not registered there
        items[3] = _item(bKey, b, 30, 0, 1);
        assertEq(_pack(items).length, 3 * 34 + 4 * 112, "three groups");
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationRejected(other, b, 1, ICapacityRegistry.Rejection.NotRegistered);
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationsSubmitted(relayer, 3, 1);
        assertEq(_relay(items), 3);
        assertEq(registry.getSmoothedCapacity(id, a), 3);
        assertEq(registry.getSmoothedCapacity(other, c), 3);
        assertEq(registry.getSmoothedCapacity(id, b), 9);
    }

    function _slice(bytes memory data, uint256 start, uint256 end) internal pure returns (bytes memory out) {
        out = new bytes(end - start);
        for (uint256 i; i < out.length; ++i) out[i] = data[start + i];
    }

    /// @notice Nonces out of order: the higher one wins, the lower one is dead for good; two
    /// in-order items in one block: the second waits out the rate limit and then lands.
    function test_batch_reorderedNonces() public {
        Attestation[] memory items = new Attestation[](2);
        items[0] = _item(aKey, a, 10, 0, 5);
        items[1] = _item(aKey, a, 20, 0, 3);
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationRejected(id, a, 3, ICapacityRegistry.Rejection.NonceNotIncreasing);
        assertEq(_relay(items), 1);
        assertEq(registry.sinkState(id, a).nonce, 5);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _expectRejected(_item(aKey, a, 20, 0, 4), ICapacityRegistry.Rejection.NonceNotIncreasing);
        assertEq(_relay(_one(_item(aKey, a, 20, 0, 6))), 1);

        // b: nonces 1 then 2 in one block
        items[0] = _item(bKey, b, 10, 0, 1);
        items[1] = _item(bKey, b, 10, 0, 2);
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationRejected(id, b, 2, ICapacityRegistry.Rejection.TooFrequent);
        assertEq(_relay(items), 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        assertEq(_relay(_one(items[1])), 1, "the same signed item lands later");
        assertEq(registry.sinkState(id, b).smoothed, 6);
    }

    // ---------------------------------------------------------------- same rules as commit-reveal

    /// @notice Two sinks with the same stake, one declaring by commit-reveal, the other by
    /// attestation, the same values at the same times: identical capacity and units at every step
    /// (stake cap, EWMA and its rounding, deadband).
    function test_sameCapEwmaAndUnitsAsCommitReveal() public {
        address x = _sink("x", id, 400e18);
        (address y, uint256 yKey) = _keyedSink("y", id, 400e18);
        uint256[8] memory values = [uint256(50), 50, 5, 20, 0, 13, 1_000, 19];
        for (uint256 i; i < values.length; ++i) {
            _declare(x, id, values[i]);
            assertEq(_relay(_one(_attestation(yKey, id, y, values[i], 0, i + 1, block.timestamp))), 1);
            assertEq(registry.getSmoothedCapacity(id, y), registry.getSmoothedCapacity(id, x), "same EWMA");
            assertLe(registry.getSmoothedCapacity(id, y), 20, "same cap");
            assertEq(_units(id, y), _units(id, x), "same units");
            // the rate limit binds both the same way
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL - 1);
            bytes32 nonce = _commit(x, id, 7);
            vm.roll(block.number + 1);
            vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.UpdateTooFrequent.selector, block.timestamp + 1));
            vm.prank(x);
            registry.revealCapacity(id, 7, nonce);
            _expectRejected(
                _attestation(yKey, id, y, 7, 0, 100 + i, block.timestamp), ICapacityRegistry.Rejection.TooFrequent
            );
            vm.roll(block.number + COMMIT_TIMEOUT + 1); // let x's pending commitment expire
            vm.warp(block.timestamp + 1);
        }
        assertEq(registry.getSmoothedCapacity(id, x), registry.getSmoothedCapacity(id, y));
    }

    /// @notice Both paths share one rate limit per registration.
    function test_rateLimitIsSharedWithCommitReveal() public {
        _declare(a, id, 10);
        _expectRejected(_item(aKey, a, 10, 0, 1), ICapacityRegistry.Rejection.TooFrequent);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        assertEq(_relay(_one(_item(aKey, a, 10, 0, 1))), 1);
        bytes32 nonce = _commit(a, id, 10);
        vm.roll(block.number + 1);
        vm.expectRevert(
            abi.encodeWithSelector(CapacityRegistry.UpdateTooFrequent.selector, block.timestamp + MIN_UPDATE_INTERVAL)
        );
        vm.prank(a);
        registry.revealCapacity(id, 10, nonce);
    }

    /// @notice No censorship: a sink whose attestations nobody relays declares by commit-reveal,
    /// and a sink that used attestations can switch back at any time (nonces are untouched).
    function test_commitRevealRemainsOpen() public {
        _declareUntilSettled(a, id, 10); // never relayed at all
        assertEq(registry.sinkState(id, a).nonce, 0);

        assertEq(_relay(_one(_item(bKey, b, 30, 0, 9))), 1);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _declare(b, id, 30);
        assertEq(registry.getSmoothedCapacity(id, b), 16, "9 -> 16 by reveal");
        assertEq(registry.sinkState(id, b).nonce, 9, "the reveal leaves the nonce alone");
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        assertEq(_relay(_one(_item(bKey, b, 30, 0, 10))), 1, "and attestations resume after it");
        assertEq(registry.getSmoothedCapacity(id, b), 21);
    }

    // ---------------------------------------------------------------- fuzz: random batches

    struct Model {
        uint256 nextNonceA;
        uint256 nextNonceB;
        bool acceptedA;
        bool acceptedB;
        uint256 accepted;
    }

    /// @notice Random batches of up to 24 items of nine kinds (valid, wrong key, tampered, r = 0,
    /// stale, future, unregistered, replayed nonce, out of range): the batch never reverts, and
    /// every item's fate matches the model, in order.
    /// forge-config: default.fuzz.runs = 300
    function testFuzz_batch_eachItemJudgedAlone(uint256 seed, uint8 length) public {
        uint256 n = bound(length, 1, 24);
        Attestation[] memory items = new Attestation[](n);
        ICapacityRegistry.Rejection[] memory expected = new ICapacityRegistry.Rejection[](n);
        Model memory m;
        for (uint256 i; i < n; ++i) {
            (items[i], expected[i]) = _randomItem(uint256(keccak256(abi.encode(seed, i))), m);
        }

        vm.recordLogs();
        assertEq(_relay(items), m.accepted, "accepted count");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 next;
        for (uint256 i; i < n; ++i) {
            if (expected[i] == ICapacityRegistry.Rejection.None) continue;
            while (next < logs.length && logs[next].topics[0] != OffchainAggregator.AttestationRejected.selector) {
                ++next;
            }
            assertLt(next, logs.length, "a rejection event per bad item");
            assertEq(logs[next].topics[2], bytes32(uint256(uint160(items[i].sink))), "in order: sink");
            (uint256 nonce, ICapacityRegistry.Rejection reason) =
                abi.decode(logs[next].data, (uint256, ICapacityRegistry.Rejection));
            assertEq(nonce, items[i].nonce, "in order: nonce");
            assertEq(uint8(reason), uint8(expected[i]), "the reason");
            ++next;
        }
        // accepted items took exactly one EWMA step from zero, capped by the allowance
        _checkStep(a, m.acceptedA, 20);
        _checkStep(b, m.acceptedB, 45);
    }

    /// @dev One random item and the model's verdict on it. Replays are built against the state
    /// before the batch; items accepted earlier in the batch only raise the stored nonce.
    function _randomItem(uint256 r, Model memory m)
        internal
        view
        returns (Attestation memory x, ICapacityRegistry.Rejection reason)
    {
        bool forA = (r >> 8) % 2 == 0;
        (address sink, uint256 key) = forA ? (a, aKey) : (b, bKey);
        uint256 nonce = forA ? ++m.nextNonceA : ++m.nextNonceB;
        uint256 capacity = (r >> 16) % 100;
        uint256 backlog = (r >> 32) % 100;
        uint256 kind = r % 9;
        if (kind == 0) {
            x = _item(key, sink, capacity, backlog, nonce);
            bool already = forA ? m.acceptedA : m.acceptedB;
            if (already) return (x, ICapacityRegistry.Rejection.TooFrequent);
            ++m.accepted;
            if (forA) m.acceptedA = true;
            else m.acceptedB = true;
            return (x, ICapacityRegistry.Rejection.None);
        }
        if (kind == 1) {
            return (_item(strangerKey, sink, capacity, backlog, nonce), ICapacityRegistry.Rejection.BadSignature);
        }
        if (kind == 2) {
            x = _item(key, sink, capacity, backlog, nonce);
            x.capacity += 1;
            return (x, ICapacityRegistry.Rejection.BadSignature);
        }
        if (kind == 3) {
            x = _item(key, sink, capacity, backlog, nonce);
            x.r = bytes32(0);
            return (x, ICapacityRegistry.Rejection.BadSignature);
        }
        uint256 age = (r >> 48) % 1e6;
        if (kind == 4) {
            x = _attestation(key, id, sink, capacity, backlog, nonce, block.timestamp - ATTESTATION_MAX_AGE - 1 - age);
            return (x, ICapacityRegistry.Rejection.Stale);
        }
        if (kind == 5) {
            x = _attestation(key, id, sink, capacity, backlog, nonce, block.timestamp + ATTESTATION_MAX_SKEW + 1 + age);
            return (x, ICapacityRegistry.Rejection.FromTheFuture);
        }
        if (kind == 6) {
            return (_item(strangerKey, stranger, capacity, backlog, nonce), ICapacityRegistry.Rejection.NotRegistered);
        }
        if (kind == 7) {
            uint256 replayed = registry.sinkState(id, sink).nonce; // at or below the last accepted one
            return (_item(key, sink, capacity, backlog, replayed), ICapacityRegistry.Rejection.NonceNotIncreasing);
        }
        x = _item(key, sink, registry.MAX_VALUE() + 1 + capacity, backlog, nonce);
        return (x, ICapacityRegistry.Rejection.OutOfRange);
    }

    function _checkStep(address sink, bool accepted, uint256 allowance) internal view {
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (!accepted) {
            assertEq(s.smoothed, 0);
            assertEq(s.lastUpdate, 0);
            return;
        }
        assertEq(s.lastUpdate, block.timestamp);
        assertLe(s.smoothed, CapacityMath.ewma(0, allowance, EWMA_ALPHA_BPS), "capped by the allowance");
        assertEq(_units(id, sink), uint256(s.pushed) * UNIT_SCALE, "units = pushed weight");
    }
}
