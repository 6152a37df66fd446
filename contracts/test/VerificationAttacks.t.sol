// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {OffchainAggregator} from "../src/OffchainAggregator.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {PricingCurve} from "../src/PricingCurve.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {CapacityRegistry} from "../src/CapacityRegistry.sol";
import {ICapacityRegistry} from "../src/interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "../src/interfaces/IBackpressureHooks.sol";
import {EscrowBuffer} from "../src/EscrowBuffer.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";

/// @notice Attacks on declaration, verification and pricing, each as a test: attestation replay
/// (same batch, later, across sinks, task types, deployments, chains and re-registrations),
/// reordered nonces, future timestamps, malformed signatures inside a batch, receipt replay,
/// self-certified receipts, sources that never paid or pay a trickle, low-demand epochs, price
/// manipulation by a third party, and slashing by anyone but the rule.
contract VerificationAttacksTest is BPETest {
    using SuperTokenV1Library for ISuperToken;

    bytes32 internal id;
    address internal victim;
    uint256 internal victimKey;
    address internal rival;
    uint256 internal rivalKey;
    address internal src;
    uint256 internal srcKey;
    address internal mallory;
    uint256 internal malloryKey;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = _taskType("llm", 1_000e18);
        (victim, victimKey) = _keyedSink("victim", id, 400e18); // cap 20
        (rival, rivalKey) = _keyedSink("rival", id, 400e18);
        _declareUntilSettled(victim, id, 10);
        _declareUntilSettled(rival, id, 10);
        bpPool.rebalance(id);
        (src, srcKey) = _keyedSource("src", 1e24);
        (mallory, malloryKey) = makeAddrAndKey("mallory");
        _stake(mallory, 100e18); // mallory may even be a staked participant
    }


    function _relayExpecting(Attestation memory x, ICapacityRegistry.Rejection reason) internal {
        vm.expectEmit(true, true, true, true, address(aggregator));
        emit OffchainAggregator.AttestationRejected(x.taskTypeId, x.sink, x.nonce, reason);
        vm.prank(mallory);
        assertEq(aggregator.submitAttestations(_pack(_one(x))), 0);
    }

    function _toEpochStart() internal {
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH);
    }

    /// @notice The first second at which the tracker may judge the epoch that just ended.
    function _toJudgeable() internal {
        _toEpochStart();
        vm.warp(block.timestamp + RECEIPT_GRACE);
    }

    // ---------------------------------------------------------------- attestation replay

    function test_attestationReplay_sameBatch() public {
        Attestation memory x = _attestation(victimKey, id, victim, 0, 0, 1, block.timestamp); // "I am full"
        Attestation[] memory items = new Attestation[](3);
        items[0] = x;
        items[1] = x;
        items[2] = x;
        vm.prank(mallory);
        assertEq(aggregator.submitAttestations(_pack(items)), 1, "applied once");
        assertEq(registry.getSmoothedCapacity(id, victim), 7, "one EWMA step, not three");
    }

    function test_attestationReplay_laterWhileFreshThenStale() public {
        Attestation memory x = _attestation(victimKey, id, victim, 0, 0, 1, block.timestamp);
        aggregator.submitAttestations(_pack(_one(x)));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _relayExpecting(x, ICapacityRegistry.Rejection.NonceNotIncreasing);
        vm.warp(x.timestamp + ATTESTATION_MAX_AGE + 1);
        _relayExpecting(x, ICapacityRegistry.Rejection.Stale);
        assertEq(registry.getSmoothedCapacity(id, victim), 7);
    }

    function test_attestationReplay_asAnotherSink() public {
        // the victim's signature presented as the rival's statement
        Attestation memory x = _attestation(victimKey, id, victim, 0, 0, 1, block.timestamp);
        x.sink = rival;
        _relayExpecting(x, ICapacityRegistry.Rejection.BadSignature);
        assertEq(registry.getSmoothedCapacity(id, rival), 10);
    }

    function test_attestationReplay_otherDeploymentOrChain() public {
        OffchainAggregator other = new OffchainAggregator(registry, ATTESTATION_MAX_AGE, ATTESTATION_MAX_SKEW);
        Attestation memory x = _attestation(victimKey, id, victim, 0, 0, 1, block.timestamp);
        (x.r, x.vs) = _signCompact(victimKey, _digest(other, x)); // signed for another aggregator
        _relayExpecting(x, ICapacityRegistry.Rejection.BadSignature);

        x = _attestation(victimKey, id, victim, 0, 0, 1, block.timestamp); // signed on this chain
        vm.chainId(8453);
        _relayExpecting(x, ICapacityRegistry.Rejection.BadSignature);
        assertEq(registry.getSmoothedCapacity(id, victim), 10);
    }

    /// @notice Nonces are per sink, not per registration: an attestation signed before the sink
    /// left cannot be replayed (while still fresh) once it joins again.
    function test_attestationReplay_acrossReRegistration() public {
        Attestation memory old = _attestation(victimKey, id, victim, 20, 50, 7, block.timestamp);
        aggregator.submitAttestations(_pack(_one(old)));
        assertEq(registry.sinkState(id, victim).nonce, 7);
        _deregister(victim, id);
        _register(victim, id);
        vm.warp(block.timestamp + 100); // well inside maxAge
        _relayExpecting(old, ICapacityRegistry.Rejection.NonceNotIncreasing);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, victim);
        assertEq(capacity, 0, "the fresh registration starts from zero");
        assertEq(backlog, 0, "and no replayed backlog");
        // the sink itself continues from its last nonce
        aggregator.submitAttestations(_pack(_one(_attestation(victimKey, id, victim, 10, 0, 8, block.timestamp))));
        assertEq(registry.getSmoothedCapacity(id, victim), 3);
    }

    // ---------------------------------------------------------------- nonces and timestamps

    /// @notice An attacker holding an older signed attestation ("capacity 20") cannot submit it
    /// after the newer one ("I am full") to undo it.
    function test_reorderedNonces_olderStatementCannotOverrideNewer() public {
        Attestation memory older = _attestation(victimKey, id, victim, 20, 0, 1, block.timestamp);
        Attestation memory newer =
            _attestation(victimKey, id, victim, 0, 30, 2, block.timestamp + 10);
        vm.warp(block.timestamp + 10);
        aggregator.submitAttestations(_pack(_one(newer)));
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _relayExpecting(older, ICapacityRegistry.Rejection.NonceNotIncreasing);
        (uint256 capacity, uint256 backlog) = registry.signalOf(id, victim);
        assertEq(capacity, 7);
        assertEq(backlog, 30, "the newer report stands");
    }

    /// @notice Dating an attestation in the future to keep it "fresh" for longer is refused
    /// beyond maxSkew; within it, the attestation still expires maxAge after its own timestamp.
    function test_futureTimestamp_cannotExtendFreshness() public {
        _relayExpecting(
            _attestation(victimKey, id, victim, 20, 0, 1, block.timestamp + 1 days),
            ICapacityRegistry.Rejection.FromTheFuture
        );
        uint256 t = block.timestamp + ATTESTATION_MAX_SKEW;
        Attestation memory x = _attestation(victimKey, id, victim, 20, 0, 1, t);
        vm.warp(t + ATTESTATION_MAX_AGE + 1);
        _relayExpecting(x, ICapacityRegistry.Rejection.Stale);
    }

    /// @notice Garbage inside a batch (random signatures, out-of-range values, unknown sinks and
    /// task types) never blocks the honest items next to it.
    function test_malformedItemsInsideABatch() public {
        Attestation[] memory items = new Attestation[](8);
        for (uint256 i; i < 7; ++i) {
            bytes32 noise = keccak256(abi.encode("noise", i));
            items[i] = Attestation({
                taskTypeId: i % 2 == 0 ? id : noise,
                sink: i % 3 == 0 ? victim : address(uint160(uint256(noise))),
                capacity: uint64(uint256(noise)),
                backlog: uint64(uint256(noise) >> 64),
                nonce: uint32(uint256(noise) >> 128),
                timestamp: uint64(block.timestamp),
                r: noise,
                vs: keccak256(abi.encode(noise))
            });
        }
        items[7] = _attestation(rivalKey, id, rival, 0, 0, 1, block.timestamp);
        vm.prank(mallory);
        assertEq(aggregator.submitAttestations(_pack(items)), 1, "only the honest item");
        assertEq(registry.getSmoothedCapacity(id, rival), 7);
        assertEq(registry.getSmoothedCapacity(id, victim), 10, "the victim untouched by garbage in its name");
    }

    // ---------------------------------------------------------------- receipts

    function _receiptNow(bytes32 taskId) internal view returns (CompletionTracker.Receipt memory) {
        return _receipt(taskId, id, victim, src, block.timestamp, block.timestamp + 1 hours);
    }

    function test_receiptReplay() public {
        _stream(src, id, _rate(6));
        _toJudgeable();
        tracker.advanceEpoch(id, victim);
        vm.warp(block.timestamp + 10); // the stream has paid for at least 70 s: one task
        CompletionTracker.Receipt memory r = _receiptNow("task");
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, srcKey, r);
        tracker.recordCompletion(r, sinkSig, sourceSig);
        vm.warp(block.timestamp + 100); // credit for more is no help
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.AlreadyCounted.selector, id, src, r.taskId));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // in the next window it is not even in range any more
        _toJudgeable();
        tracker.advanceEpoch(id, victim);
        vm.expectRevert(
            abi.encodeWithSelector(
                CompletionTracker.ReceiptBeforeWindow.selector, r.completedAt, block.timestamp - RECEIPT_GRACE
            )
        );
        tracker.recordCompletion(r, sinkSig, sourceSig);
        assertEq(tracker.windowOf(id, victim).completions, 0);
    }

    function test_receiptReplay_forAnotherSinkTaskTypeOrDeployment() public {
        _stream(src, id, _rate(6));
        CompletionTracker.Receipt memory r = _receiptNow("task");
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, srcKey, r);

        CompletionTracker.Receipt memory asRival = _receiptNow("task");
        asRival.sink = rival; // the victim's work claimed by the rival
        // the source's request named the victim
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src));
        tracker.recordCompletion(asRival, sinkSig, sourceSig);
        // even with a request of the source's naming the rival, the victim's completion is not its
        bytes memory rivalRequest = _sign65(srcKey, tracker.requestDigest(asRival));
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, rival));
        tracker.recordCompletion(asRival, sinkSig, rivalRequest);

        bytes32 other = _taskType("other", 0);
        vm.prank(victim);
        registry.setAllowance(id, 10); // frees half its cap for a second task type
        _register(victim, other);
        CompletionTracker.Receipt memory elsewhere = _receiptNow("task");
        elsewhere.taskTypeId = other;
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src));
        tracker.recordCompletion(elsewhere, sinkSig, sourceSig);
        bytes memory elsewhereRequest = _sign65(srcKey, tracker.requestDigest(elsewhere));
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, victim));
        tracker.recordCompletion(elsewhere, sinkSig, elsewhereRequest);

        CompletionTracker otherTracker = new CompletionTracker(
            sf.host,
            registry,
            IBackpressureHooks(address(bpPool)),
            stakeManager,
            buffer,
            pricing,
            EPOCH,
            RECEIPT_GRACE,
            _verificationRule()
        );
        bytes memory foreignRequest = _sign65(srcKey, otherTracker.requestDigest(r));
        bytes memory foreignCompletion = _sign65(victimKey, otherTracker.completionDigest(r));
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, src));
        tracker.recordCompletion(r, foreignCompletion, foreignRequest);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.InvalidSignature.selector, victim));
        tracker.recordCompletion(r, foreignCompletion, sourceSig);
        assertFalse(tracker.isCounted(id, src, r.taskId), "nothing counted");
    }

    function test_selfCertified_sameAddress() public {
        CompletionTracker.Receipt memory r = _receipt("task", id, victim, victim, block.timestamp, block.timestamp);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, victimKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.SelfCertified.selector, victim));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    /// @notice A second key of the sink's, that never paid the pool, cannot co-sign.
    function test_selfCertified_secondKeyNeverPaid() public {
        _stream(src, id, _rate(6)); // the pool has real payers; the second key is not one of them
        vm.warp(block.timestamp + EPOCH);
        (address alt, uint256 altKey) = makeAddrAndKey("victim-alt");
        CompletionTracker.Receipt memory r = _receipt("task", id, victim, alt, block.timestamp, block.timestamp);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, altKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, alt, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    /// @notice A second key of the sink's that pays a trickle into the pool backs only
    /// trickle / fee receipts: every self-certified receipt costs it a full base fee, paid into
    /// the pool, so certifying itself never comes cheaper than the work it claims.
    function test_selfCertified_secondKeyPayingATrickle() public {
        _stream(src, id, _rate(6));
        (address alt, uint256 altKey) = _keyedSource("victim-alt", 1e21);
        uint256 trickle = 1e12; // 1/20 of src's rate: 0.3 tasks per epoch
        _stream(alt, id, int96(int256(trickle)));
        vm.warp(block.timestamp + 10 * EPOCH); // 3,000 s: 3e15 wei, three base fees
        assertEq(tracker.creditOf(id, alt), trickle * 10 * EPOCH);
        uint256 backed = trickle * 10 * EPOCH / PRICE;
        assertEq(backed, 3);
        _complete(id, victim, victimKey, alt, altKey, backed, 1);
        assertEq(tracker.windowOf(id, victim).completions, backed, "exactly the paid receipts");
        CompletionTracker.Receipt memory r = _receipt("one more", id, victim, alt, block.timestamp, block.timestamp);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, altKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, alt, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
        // and src's credit is no help to it: credit is the source's own
        assertGt(tracker.creditOf(id, src), 10 * PRICE);
    }

    /// @notice Nor can a colluding sink of the same pool (being paid is not paying), nor a source
    /// that pays another task type, nor one that used to pay and stopped.
    function test_unpaidReceipt_variants() public {
        _stream(src, id, _rate(6));
        vm.warp(block.timestamp + EPOCH); // the rival has been paid by the pool for an epoch
        assertGt(_received(id, rival), 0);
        CompletionTracker.Receipt memory r = _receipt("t1", id, victim, rival, block.timestamp, block.timestamp);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, rivalKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, rival, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);

        (address payer, uint256 payerKey) = _keyedSource("payer", 1e24);
        bytes32 other = _taskType("other", 0);
        address otherSink = _sink("other-sink", other, 100e18);
        _declare(otherSink, other, 10);
        _stream(payer, other, _rate(3));
        vm.warp(block.timestamp + EPOCH);
        int96 otherRate = token.getFlowDistributionFlowRate(payer, _pool(other)); // rounded by the GDA
        assertEq(tracker.creditOf(other, payer), uint256(int256(otherRate)) * EPOCH, "paying the other pool");
        r = _receipt("t2", id, victim, payer, block.timestamp, block.timestamp);
        (sinkSig, sourceSig) = _signReceipt(victimKey, payerKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, payer, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);

        _stream(payer, id, _rate(6));
        vm.warp(block.timestamp + 50);
        tracker.recordCompletion(r, sinkSig, sourceSig); // paid for one now
        _stream(payer, id, 0); // and stops
        vm.warp(block.timestamp + EPOCH);
        r = _receipt("t3", id, victim, payer, block.timestamp, block.timestamp);
        (sinkSig, sourceSig) = _signReceipt(victimKey, payerKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, payer, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }

    // ---------------------------------------------------------------- low demand and forced evaluation

    /// @notice Low demand: the victim is paid for 3 tasks/epoch while declaring 10 and completes
    /// the 3 it is paid for. However the attacker times evaluations (every epoch, or after gaps),
    /// expected is what was paid, never the declaration, and the victim is never charged (the
    /// shortfall rule: no strikes, no penalty).
    function test_lowDemandEpochs_neverSlashHonestSink() public {
        _stream(src, id, 2e13); // 6 tasks/epoch over both sinks: 3 each
        _toJudgeable();
        tracker.advanceEpoch(id, victim);
        uint256 salt;
        for (uint256 i; i < 12; ++i) {
            vm.warp(block.timestamp + 150); // the source's credit covers 3 receipts by now
            _complete(id, victim, victimKey, src, srcKey, 3, ++salt);
            uint256 gap = i % 3 == 0 ? 1 : 0; // sometimes the attacker waits an extra epoch
            _toJudgeable();
            if (gap == 1) {
                vm.warp(block.timestamp + 150);
                _complete(id, victim, victimKey, src, srcKey, 3, ++salt);
                _toJudgeable();
            }
            uint256 e = tracker.windowOf(id, victim).epoch;
            vm.expectEmit(true, true, true, true, address(tracker));
            emit CompletionTracker.EpochEvaluated(id, victim, e, 1 + gap, 3 * (1 + gap), 3 * (1 + gap), 0, 0);
            vm.prank(mallory);
            tracker.advanceEpoch(id, victim);
            assertEq(tracker.windowOf(id, victim).strikes, 0, "never a strike");
        }
        assertEq(stakeManager.getStake(victim), 400e18);
    }

    // ---------------------------------------------------------------- price manipulation

    function test_priceManipulation_backlogOfAnotherSink() public {
        uint256 price = pricing.priceOf(id, victim);
        uint256 units = _units(id, victim);
        // direct call: the caller can only ever move its own report
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotRegistered.selector, id, mallory));
        vm.prank(mallory);
        registry.reportBacklog(id, 1_000_000);
        // as a registered rival: moves the rival, not the victim
        vm.prank(rival);
        registry.reportBacklog(id, 1_000_000);
        // forged attestation in the victim's name
        _relayExpecting(
            _attestation(malloryKey, id, victim, 10, 1_000_000, 1, block.timestamp),
            ICapacityRegistry.Rejection.BadSignature
        );
        assertEq(pricing.priceOf(id, victim), price, "the victim's price untouched");
        assertEq(_units(id, victim), units, "and its share of the pool");
        assertEq(pricing.priceOf(id, rival), 101 * PRICE, "the rival priced itself out");
    }

    /// @notice The victim reported a queue and cleared it; its old high-backlog attestation cannot
    /// be replayed to price it out again.
    function test_priceManipulation_replayOldBacklog() public {
        Attestation memory busy = _attestation(victimKey, id, victim, 10, 100, 1, block.timestamp);
        aggregator.submitAttestations(_pack(_one(busy)));
        assertEq(pricing.priceOf(id, victim), 11 * PRICE);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        aggregator.submitAttestations(_pack(_one(_attestation(victimKey, id, victim, 10, 0, 2, block.timestamp))));
        assertEq(pricing.priceOf(id, victim), PRICE);
        vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        _relayExpecting(busy, ICapacityRegistry.Rejection.NonceNotIncreasing);
        assertEq(pricing.priceOf(id, victim), PRICE);
    }

    /// @notice The base fee moves at most one step per epoch however often anyone pokes it, and
    /// only real payment into the pool moves it up.
    function test_priceManipulation_baseFee() public {
        _toEpochStart();
        vm.prank(mallory);
        assertEq(pricing.advanceEpoch(id), PRICE, "the first poke only starts the clock");
        uint256 epoch = block.timestamp / EPOCH;
        for (uint256 i; i < 5; ++i) {
            vm.expectRevert(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch));
            vm.prank(mallory);
            pricing.advanceEpoch(id);
            vm.warp(block.timestamp + 50);
        }
        // without payment the fee only falls; a rival leaving raises utilisation, not a stranger
        uint256 fee = pricing.baseFee(id);
        _toEpochStart();
        vm.prank(mallory);
        assertLt(pricing.advanceEpoch(id), fee, "no demand: down");
    }

    /// @notice A stream opened just before the advance and closed right after it lasts zero
    /// seconds: the utilisation is measured over the epoch, so it moves nothing, where the
    /// instantaneous rate would have read 100x the capacity.
    function test_priceManipulation_flashStreamAroundTheAdvance() public {
        _toEpochStart();
        pricing.advanceEpoch(id); // starts the clock; no demand all epoch
        _toEpochStart();
        (address whale,) = _keyedSource("whale", 1e24);
        _stream(whale, id, _rate(2_000)); // 100x the 20 tasks/epoch capacity, for zero seconds
        vm.prank(mallory);
        uint256 fee = pricing.advanceEpoch(id);
        _stream(whale, id, 0);
        assertEq(fee, PRICE * 8_750 / 10_000, "the epoch had no demand: one full down-step");
    }

    // ---------------------------------------------------------------- slashing

    function test_slash_nobodyButTheRule() public {
        address[4] memory callers = [mallory, victim, creator, address(pricing)];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(StakeManager.NotSlasher.selector, callers[i]));
            vm.prank(callers[i]);
            stakeManager.slash(victim, 400e18, "GRIEF");
        }
        // nor can anyone hand the registry a lower cap
        vm.expectRevert(abi.encodeWithSelector(CapacityRegistry.NotStakeManager.selector, mallory));
        vm.prank(mallory);
        registry.onStakeChanged(victim);
        assertEq(stakeManager.getStake(victim), 400e18);
    }

    /// @notice Forced early evaluation: an attacker evaluating mid-epoch is refused, so a sink always
    /// has its whole epoch to submit receipts.
    /// The refusal lasts RECEIPT_GRACE seconds past the epoch's end, so receipts for tasks
    /// finished in its last seconds still count.
    function test_earlyEvaluationRefused() public {
        _stream(src, id, 2e13);
        _toEpochStart();
        tracker.advanceEpoch(id, victim);
        uint256 epoch = block.timestamp / EPOCH;
        vm.warp(block.timestamp + EPOCH - 1);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, epoch));
        vm.prank(mallory);
        tracker.advanceEpoch(id, victim);
        vm.warp((epoch + 1) * EPOCH + RECEIPT_GRACE - 1); // inside the grace
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.EpochNotOver.selector, epoch));
        vm.prank(mallory);
        tracker.advanceEpoch(id, victim);
        vm.warp(block.timestamp + 1);
        vm.prank(mallory);
        tracker.advanceEpoch(id, victim);
        assertEq(tracker.windowOf(id, victim).epoch, epoch + 1);
    }

    /// @notice Buffer deposits are credit for their own task type only, and a refused deposit
    /// counts for nothing.
    function test_depositPayerIsPerTaskType() public {
        bytes32 tiny = _taskType("tiny", 1);
        (address depositor, uint256 depositorKey) = _keyedSource("depositor", 10);
        vm.startPrank(depositor);
        token.approve(address(buffer), 10);
        buffer.deposit(tiny, 1);
        vm.expectRevert(abi.encodeWithSelector(EscrowBuffer.BufferCapacityExceeded.selector, 1, 1, 1));
        buffer.deposit(tiny, 1);
        vm.stopPrank();
        assertEq(tracker.creditOf(tiny, depositor), 1, "the accepted wei only");
        assertEq(tracker.creditOf(id, depositor), 0);
        CompletionTracker.Receipt memory r = _receipt("t", id, victim, depositor, block.timestamp, block.timestamp);
        (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(victimKey, depositorKey, r);
        vm.expectRevert(abi.encodeWithSelector(CompletionTracker.UnpaidReceipt.selector, depositor, 0, PRICE));
        tracker.recordCompletion(r, sinkSig, sourceSig);
    }
}
