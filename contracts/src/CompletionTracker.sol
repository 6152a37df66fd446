// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ISuperfluidPool} from
    "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {StakeManager} from "./StakeManager.sol";
import {EscrowBuffer} from "./EscrowBuffer.sol";
import {PricingCurve} from "./PricingCurve.sol";

/// @title CompletionTracker: counts dual-signed completion receipts and slashes sinks that do not
/// do the work they are paid for.
/// @notice A receipt is an EIP-712 message signed by both the sink and the source over fields they
/// choose (task id, task type, sink, source, completion time, deadline); nothing in it comes from
/// the chain, so both can sign before submission. The source must be paying the task type's pool
/// (streaming into it now, or having deposited into its buffer): a sink cannot certify itself
/// with a second key without paying the pool. Each (task type, task id) counts once.
/// @dev Per (task type, sink) an evaluation window of whole epochs runs from its opening to the
/// next `advanceEpoch` (anyone may call it). Expected completions over the window =
/// min(declared capacity * epochs, tasks actually paid for = amount received / base fee), so low
/// demand never punishes an honest sink. The declared capacity is the larger of the one at the
/// window's opening and the current one: lowering it (or deregistering) just before the
/// evaluation does not shrink what the sink owed for the epochs it was paid in. Completions below 50 % of expected count one strike per
/// epoch in the window; 3 consecutive strikes slash 10 % of the stake through the StakeManager,
/// whose registry hook drops the cap, the capacity and the pool units in the same transaction.
/// This contract is the StakeManager's only slasher; the slashed stake goes to the recipient fixed
/// in the StakeManager at deployment.
contract CompletionTracker is EIP712 {
    using SuperTokenV1Library for ISuperToken;

    event CompletionRecorded(bytes32 indexed taskTypeId, address indexed sink, bytes32 indexed taskId, address source);
    event EpochEvaluated(
        bytes32 indexed taskTypeId,
        address indexed sink,
        uint256 fromEpoch,
        uint256 epochs,
        uint256 expected,
        uint256 completions,
        uint256 strikes,
        uint256 slashed
    );

    error NotRegistered(bytes32 taskTypeId, address sink);
    error SelfCertified(address sink);
    error CompletedAfterDeadline(uint256 completedAt, uint256 deadline);
    error CompletedInFuture(uint256 completedAt);
    error ReceiptBeforeWindow(uint256 completedAt, uint256 windowStart);
    error AlreadyCounted(bytes32 taskTypeId, bytes32 taskId);
    error InvalidSignature(address expectedSigner);
    error NotAPayer(address source);
    error EpochNotOver(uint256 epoch);
    error InvalidParameters();

    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "CompletionReceipt(bytes32 taskId,bytes32 taskTypeId,address sink,address source,uint64 completedAt,uint64 deadline)"
    );
    uint256 public constant BPS = 10_000;
    uint256 public constant FAIL_BELOW_BPS = 5_000; // completions < 50 % of expected fail an epoch
    uint256 public constant STRIKES_TO_SLASH = 3;
    uint256 public constant SLASH_BPS = 1_000; // 10 % of the stake
    bytes32 public constant SLASH_REASON = "UNDERPERFORMANCE";

    struct Receipt {
        bytes32 taskId;
        bytes32 taskTypeId;
        address sink;
        address source;
        uint64 completedAt;
        uint64 deadline;
    }

    /// @dev One slot per (task type, sink).
    struct Window {
        bool opened;
        uint32 epoch; // first epoch of the open window
        uint64 completions; // receipts counted in the window
        uint8 strikes; // consecutive failed epochs
        uint40 capacityAtOpen; // declared capacity when the window opened
        uint96 receivedAtStart; // what the sink had received from the pool when the window opened
    }

    ICapacityRegistry public immutable registry;
    IBackpressureHooks public immutable backpressurePool;
    StakeManager public immutable stakeManager;
    EscrowBuffer public immutable buffer;
    PricingCurve public immutable pricing;
    uint256 public immutable epochSeconds;

    mapping(bytes32 => mapping(address => Window)) private _windows;
    mapping(bytes32 => mapping(bytes32 => bool)) public counted;

    constructor(
        ICapacityRegistry registry_,
        IBackpressureHooks backpressurePool_,
        StakeManager stakeManager_,
        EscrowBuffer buffer_,
        PricingCurve pricing_,
        uint256 epochSeconds_
    ) EIP712("BPE CompletionTracker", "1") {
        if (epochSeconds_ == 0) revert InvalidParameters();
        registry = registry_;
        backpressurePool = backpressurePool_;
        stakeManager = stakeManager_;
        buffer = buffer_;
        pricing = pricing_;
        epochSeconds = epochSeconds_;
    }

    /// @notice Counts one completed task (anyone may submit the dual-signed receipt).
    function recordCompletion(Receipt calldata r, bytes calldata sinkSignature, bytes calldata sourceSignature)
        external
    {
        if (!registry.isRegistered(r.taskTypeId, r.sink)) revert NotRegistered(r.taskTypeId, r.sink);
        if (r.source == r.sink) revert SelfCertified(r.sink);
        if (r.completedAt > r.deadline) revert CompletedAfterDeadline(r.completedAt, r.deadline);
        if (r.completedAt > block.timestamp) revert CompletedInFuture(r.completedAt);
        Window storage w = _openWindow(r.taskTypeId, r.sink);
        uint256 windowStart = uint256(w.epoch) * epochSeconds;
        if (r.completedAt < windowStart) revert ReceiptBeforeWindow(r.completedAt, windowStart);
        if (counted[r.taskTypeId][r.taskId]) revert AlreadyCounted(r.taskTypeId, r.taskId);

        bytes32 digest = receiptDigest(r);
        if (!SignatureChecker.isValidSignatureNow(r.sink, digest, sinkSignature)) revert InvalidSignature(r.sink);
        if (!SignatureChecker.isValidSignatureNow(r.source, digest, sourceSignature)) {
            revert InvalidSignature(r.source);
        }
        if (!isPayer(r.taskTypeId, r.source)) revert NotAPayer(r.source);

        counted[r.taskTypeId][r.taskId] = true;
        w.completions += 1;
        emit CompletionRecorded(r.taskTypeId, r.sink, r.taskId, r.source);
    }

    /// @notice Closes the sink's window once at least one epoch has ended, judges it, and opens the
    /// next one. Anyone may call it; it is the only path to a slash.
    function advanceEpoch(bytes32 taskTypeId, address sink) external {
        Window memory w = _windows[taskTypeId][sink];
        uint256 epoch = currentEpoch();
        if (!w.opened) {
            if (!registry.isRegistered(taskTypeId, sink)) revert NotRegistered(taskTypeId, sink);
            _openWindow(taskTypeId, sink);
            return;
        }
        if (epoch <= w.epoch) revert EpochNotOver(epoch);
        uint256 epochs = epoch - w.epoch;

        uint256 received = _received(taskTypeId, sink);
        uint256 capacityNow = registry.getSmoothedCapacity(taskTypeId, sink);
        uint256 expected = _expected(taskTypeId, w, epochs, received, capacityNow);
        bool failed = w.completions * BPS < FAIL_BELOW_BPS * expected;
        uint256 strikes = failed ? w.strikes + epochs : 0;

        uint256 slashed;
        if (strikes >= STRIKES_TO_SLASH) {
            // 10 % of all the sink's stake, unbonding included: leaving does not shrink the penalty.
            StakeManager.Account memory account = stakeManager.accountOf(sink);
            slashed = (account.staked + account.unbonding) * SLASH_BPS / BPS;
            strikes = 0;
        }
        _windows[taskTypeId][sink] = Window({
            opened: true,
            epoch: uint32(epoch),
            completions: 0,
            strikes: uint8(strikes),
            capacityAtOpen: uint40(capacityNow),
            receivedAtStart: uint96(received)
        });
        emit EpochEvaluated(taskTypeId, sink, w.epoch, epochs, expected, w.completions, strikes, slashed);
        if (slashed != 0) stakeManager.slash(sink, slashed, SLASH_REASON);
    }

    /// @dev min(declared capacity * epochs, tasks paid for in the window). The declared capacity is
    /// the larger of the window's opening snapshot and now; payments are measured from the 96-bit
    /// snapshot, which wraps: the difference over one window is what counts, and it fits.
    function _expected(bytes32 taskTypeId, Window memory w, uint256 epochs, uint256 received, uint256 capacityNow)
        internal
        view
        returns (uint256)
    {
        uint256 receivedInWindow;
        unchecked {
            receivedInWindow = uint96(uint96(received) - w.receivedAtStart);
        }
        uint256 paidTasks = receivedInWindow / pricing.baseFee(taskTypeId);
        uint256 declared = (capacityNow > w.capacityAtOpen ? capacityNow : w.capacityAtOpen) * epochs;
        return paidTasks < declared ? paidTasks : declared;
    }

    /// @notice Whether `source` pays the task type's pool: streams into it now, or has deposited
    /// into its buffer.
    function isPayer(bytes32 taskTypeId, address source) public view returns (bool) {
        ISuperToken token = registry.taskType(taskTypeId).token;
        ISuperfluidPool pool = ISuperfluidPool(backpressurePool.getPool(taskTypeId));
        return token.getFlowDistributionFlowRate(source, pool) > 0 || buffer.depositedBy(taskTypeId, source) > 0;
    }

    function receiptDigest(Receipt calldata r) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(RECEIPT_TYPEHASH, r.taskId, r.taskTypeId, r.sink, r.source, r.completedAt, r.deadline))
        );
    }

    function windowOf(bytes32 taskTypeId, address sink) external view returns (Window memory) {
        return _windows[taskTypeId][sink];
    }

    function currentEpoch() public view returns (uint256) {
        return block.timestamp / epochSeconds;
    }

    function _openWindow(bytes32 taskTypeId, address sink) internal returns (Window storage w) {
        w = _windows[taskTypeId][sink];
        if (w.opened) return w;
        w.opened = true;
        w.epoch = uint32(currentEpoch());
        w.capacityAtOpen = uint40(registry.getSmoothedCapacity(taskTypeId, sink));
        w.receivedAtStart = uint96(_received(taskTypeId, sink));
    }

    function _received(bytes32 taskTypeId, address sink) internal view returns (uint256) {
        return ISuperfluidPool(backpressurePool.getPool(taskTypeId)).getTotalAmountReceivedByMember(sink);
    }
}
