// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {ISuperfluid} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluid.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SuperfluidBound} from "./base/SuperfluidBound.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {StakeManager} from "./StakeManager.sol";
import {EscrowBuffer} from "./EscrowBuffer.sol";
import {PricingCurve} from "./PricingCurve.sol";

/// @title CompletionTracker: counts completion receipts backed by payment and slashes sinks that do
/// not do the work they are paid for.
/// @notice A receipt has two signatures made at two moments. The source signs the EIP-712
/// TaskRequest (task id, task type, sink, source, deadline) when it hands the task out, so the
/// sink holds proof of the request before it works and the source cannot withhold it afterwards;
/// the sink signs the Completion (that request, completion time) when done. Every counted receipt
/// spends the base fee from what that source has actually paid for the task type (its stream
/// into the pool over time, measured from the GDA's record of the flow, plus its buffer
/// deposits): a second key paying a trickle backs a trickle of receipts. A (source, task id)
/// counts once per task type, so nobody can use up another source's task ids.
/// @dev Per (task type, sink) an evaluation window of whole epochs runs from its opening to the
/// next `advanceEpoch` (anyone may call it), which may judge an epoch only `receiptGrace` seconds
/// after it ended, so receipts for tasks finished in its last seconds still count. Expected
/// completions over the window = min(declared capacity * epochs, tasks actually paid for =
/// amount received / base fee), so low demand never punishes an honest sink. The declared
/// capacity is the larger of the one at the window's opening and the current one. The default
/// rule charges the shortfall itself: every task short of 94 % of expected costs the stake that
/// backs one task/epoch of capacity in the task type (`stakeUnitsPerTask` stake units), so lying
/// costs more than it earns, in every window. The seeds' rule stays selectable at deployment:
/// completions below 50 % of expected count one strike per epoch; 3 consecutive strikes slash 10 %
/// of the stake (it lets a sink over-declare by up to 100 % unpunished); leaving does not wipe
/// strikes: a sink judged after it deregistered pays strikes/3 of the slash. Either way the slash
/// goes through the StakeManager, whose registry hook drops the cap, the capacity and the pool
/// units in the same transaction, and the stake to the recipient fixed at deployment.
contract CompletionTracker is EIP712, SuperfluidBound {
    using SuperTokenV1Library for ISuperToken;
    using SafeCast for uint256;

    event CompletionRecorded(bytes32 indexed taskTypeId, address indexed sink, bytes32 indexed taskId, address source);
    /// @notice An item of a `recordCompletions` batch that did not count: `index` is its place in
    /// the batch, `reason` the first 4 bytes of what `recordCompletion` reverted with for it: the
    /// selector of its error (`RecordOutOfGas` if it used more than 63/64 of its `RECORD_GAS`, 0
    /// if it reverted without data).
    event CompletionSkipped(
        bytes32 indexed taskTypeId,
        address indexed sink,
        bytes32 indexed taskId,
        address source,
        uint256 index,
        bytes4 reason
    );
    event CompletionsRecorded(address indexed submitter, uint256 counted, uint256 skipped);
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
    error AlreadyCounted(bytes32 taskTypeId, address source, bytes32 taskId);
    error InvalidSignature(address expectedSigner);
    error UnpaidReceipt(address source, uint256 credit, uint256 fee);
    error EpochNotOver(uint256 epoch);
    error InvalidParameters();
    /// @notice The transaction's gas could not give the next batch item its full `RECORD_GAS`.
    error InsufficientGas(uint256 left, uint256 required);
    /// @notice The reason of a batch item that used more than 63/64 of its `RECORD_GAS` (never reverted with).
    error RecordOutOfGas(uint256 gasLimit);

    bytes32 public constant TASK_REQUEST_TYPEHASH =
        keccak256("TaskRequest(bytes32 taskId,bytes32 taskTypeId,address sink,address source,uint64 deadline)");
    bytes32 public constant COMPLETION_TYPEHASH = keccak256("Completion(bytes32 request,uint64 completedAt)");
    uint256 public constant BPS = 10_000;
    uint256 public constant FAIL_BELOW_BPS = 5_000; // completions < 50 % of expected fail an epoch
    uint256 public constant STRIKES_TO_SLASH = 3;
    uint256 public constant SLASH_BPS = 1_000; // 10 % of the stake
    /// @notice Shortfall within 6 % of expected is noise, not charged (shortfall rule): with 5 %
    /// capacity noise an honest sink then loses under 1 % of its revenue (simulator, E8).
    uint256 public constant SHORTFALL_TOLERANCE_BPS = 600;
    /// @notice Gas each item of a `recordCompletions` batch runs with (an honest receipt from an
    /// EOA costs ~115k cold, ~55k warm): what a hostile item (an ERC-1271 source or a token that
    /// burns gas) can cost the batch, and the most an ERC-1271 signer may spend in a batch.
    uint256 public constant RECORD_GAS = 300_000;

    /// @notice How a window is judged, fixed at deployment.
    enum Rule {
        Shortfall, // default: each task short of expected costs the stake backing one task/epoch
        Strikes // the seeds' rule: 3 consecutive epochs below 50 % of expected slash 10 %
    }
    bytes32 public constant SLASH_REASON = "UNDERPERFORMANCE";

    struct Receipt {
        bytes32 taskId;
        bytes32 taskTypeId;
        address sink;
        address source;
        uint64 completedAt;
        uint64 deadline;
    }

    /// @notice One item of a `recordCompletions` batch: what `recordCompletion` takes.
    struct SignedReceipt {
        Receipt receipt;
        bytes sinkSignature;
        bytes sourceSignature;
    }

    /// @dev One slot per (task type, sink).
    struct Window {
        bool opened;
        uint32 epoch; // first epoch of the open window
        uint64 completions; // receipts counted in the window
        uint8 strikes; // consecutive failed epochs
        uint40 capacityAtOpen; // declared capacity when the window opened
        uint96 receivedAtStart; // what the sink had received from the pool when the window opened
        uint96 returnedAtStart; // what it had handed back to the buffer then (second slot)
    }

    struct Verdict {
        uint256 expected;
        uint256 strikes;
        uint256 slashed;
        uint256 capacityNow;
        uint256 received;
        uint256 returned;
    }

    /// @dev What one source has paid for a task type and not yet spent on counted receipts.
    struct Credit {
        uint128 available; // token wei
        uint64 checkpointAt; // stream payments are counted up to this second
        uint128 depositsSeen; // the source's buffer deposits already counted
    }

    ICapacityRegistry public immutable registry;
    IBackpressureHooks public immutable backpressurePool;
    StakeManager public immutable stakeManager;
    EscrowBuffer public immutable buffer;
    PricingCurve public immutable pricing;
    uint256 public immutable epochSeconds;
    /// @notice Seconds after an epoch ends during which its receipts may still arrive.
    uint256 public immutable receiptGrace;
    Rule public immutable rule;

    mapping(bytes32 => mapping(address => Window)) private _windows;
    mapping(bytes32 => mapping(bytes32 => bool)) private _counted;
    mapping(bytes32 => mapping(address => Credit)) private _credits;

    constructor(
        ISuperfluid host_,
        ICapacityRegistry registry_,
        IBackpressureHooks backpressurePool_,
        StakeManager stakeManager_,
        EscrowBuffer buffer_,
        PricingCurve pricing_,
        uint256 epochSeconds_,
        uint256 receiptGrace_,
        Rule rule_
    ) EIP712("BPE CompletionTracker", "1") SuperfluidBound(host_) {
        if (epochSeconds_ == 0 || receiptGrace_ >= epochSeconds_) revert InvalidParameters();
        registry = registry_;
        backpressurePool = backpressurePool_;
        stakeManager = stakeManager_;
        buffer = buffer_;
        pricing = pricing_;
        epochSeconds = epochSeconds_;
        receiptGrace = receiptGrace_;
        rule = rule_;
    }

    /// @notice Counts one completed task (anyone may submit it): the source's signature over the
    /// request, the sink's over the completion, and the base fee spent from the source's credit.
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
        bytes32 key = _taskKey(r.source, r.taskId);
        if (_counted[r.taskTypeId][key]) revert AlreadyCounted(r.taskTypeId, r.source, r.taskId);

        bytes32 request = _requestHash(r);
        if (!SignatureChecker.isValidSignatureNow(r.source, _hashTypedDataV4(request), sourceSignature)) {
            revert InvalidSignature(r.source);
        }
        bytes32 completion = _hashTypedDataV4(keccak256(abi.encode(COMPLETION_TYPEHASH, request, r.completedAt)));
        if (!SignatureChecker.isValidSignatureNow(r.sink, completion, sinkSignature)) revert InvalidSignature(r.sink);

        Credit memory c = _accrued(r.taskTypeId, r.source);
        uint256 fee = pricing.baseFee(r.taskTypeId);
        if (c.available < fee) revert UnpaidReceipt(r.source, c.available, fee);
        c.available -= uint128(fee);
        _credits[r.taskTypeId][r.source] = c;
        _counted[r.taskTypeId][key] = true;
        w.completions += 1;
        emit CompletionRecorded(r.taskTypeId, r.sink, r.taskId, r.source);
    }

    /// @notice Counts every receipt of the batch that `recordCompletion` would count, in order, and
    /// returns how many. An item it would refuse (bad signature, already counted, unpaid, before the
    /// window, past the deadline, sink not registered, ...) is skipped with `CompletionSkipped`
    /// naming the error; the batch never reverts for an item.
    /// @dev Each item is a call from the tracker to its own `recordCompletion` with exactly
    /// `RECORD_GAS`: the same checks, signatures included, and a refused item's changes undone
    /// with it. The call is what contains a hostile item: whatever the source's ERC-1271 code or
    /// the task type's token does (revert, burn gas, return megabytes), the item costs at most
    /// `RECORD_GAS` and only the first 4 bytes of its revert data are read. The full allowance is
    /// required before each item (`InsufficientGas`), so a submitter's gas limit can never make an
    /// honest item fail and be skipped: a batch either has the gas for every item or reverts, and a
    /// gas estimate is the gas of the batch plus one allowance.
    function recordCompletions(SignedReceipt[] calldata items) external returns (uint256 counted) {
        for (uint256 i; i < items.length; ++i) {
            SignedReceipt calldata item = items[i];
            (bool ok, bytes4 reason) = _tryRecord(item);
            if (ok) {
                ++counted;
            } else {
                Receipt calldata r = item.receipt;
                emit CompletionSkipped(r.taskTypeId, r.sink, r.taskId, r.source, i, reason);
            }
        }
        emit CompletionsRecorded(msg.sender, counted, items.length - counted);
    }

    /// @dev One batch item through `recordCompletion`: counted, or the selector it reverted with.
    function _tryRecord(SignedReceipt calldata item) private returns (bool ok, bytes4 reason) {
        bytes memory data = abi.encodeCall(this.recordCompletion, (item.receipt, item.sinkSignature, item.sourceSignature));
        // Checked after encoding, whatever the item's size: the call gets all of RECORD_GAS or none.
        uint256 required = RECORD_GAS + RECORD_GAS / 63 + 5_000;
        if (gasleft() < required) revert InsufficientGas(gasleft(), required);
        uint256 before = gasleft();
        assembly ("memory-safe") {
            ok := call(RECORD_GAS, address(), 0, add(data, 0x20), mload(data), 0, 0)
            if and(iszero(ok), gt(returndatasize(), 3)) {
                returndatacopy(0, 0, 4)
                reason := and(mload(0), shl(224, 0xffffffff))
            }
            mstore(0x40, data) // the encoded call is not needed any more: memory stays flat
        }
        // A refused item hands most of its allowance back; one that ran out (itself, or in a call it
        // made, which leaves it 1/64 to unwind with) used more than 63/64 of it.
        if (!ok && before - gasleft() > RECORD_GAS - RECORD_GAS / 64) reason = RecordOutOfGas.selector;
    }

    /// @notice Books what `source` has paid since its last checkpoint. Anyone may call it; a
    /// source (or its SDK) calls it before changing its stream, because only the stream's current
    /// segment is on record with the GDA and an earlier one not checkpointed is not counted.
    function checkpoint(bytes32 taskTypeId, address source) external {
        _credits[taskTypeId][source] = _accrued(taskTypeId, source);
    }

    /// @notice Closes the sink's window once at least one epoch has ended (and its receipt grace has
    /// passed), judges it, and opens the next one. Anyone may call it; it is the only path to a
    /// slash.
    function advanceEpoch(bytes32 taskTypeId, address sink) external {
        Window memory w = _windows[taskTypeId][sink];
        uint256 epoch = judgeableEpoch();
        if (!w.opened) {
            if (!registry.isRegistered(taskTypeId, sink)) revert NotRegistered(taskTypeId, sink);
            _openWindow(taskTypeId, sink);
            return;
        }
        if (epoch <= w.epoch) revert EpochNotOver(epoch);
        Verdict memory v = _judge(taskTypeId, sink, w, epoch - w.epoch);
        _windows[taskTypeId][sink] = Window({
            opened: true,
            epoch: uint32(epoch),
            completions: 0,
            strikes: uint8(v.strikes),
            capacityAtOpen: uint40(v.capacityNow),
            receivedAtStart: uint96(v.received),
            returnedAtStart: uint96(v.returned)
        });
        emit EpochEvaluated(taskTypeId, sink, w.epoch, epoch - w.epoch, v.expected, w.completions, v.strikes, v.slashed);
        if (v.slashed == 0) return;
        stakeManager.slash(sink, v.slashed, SLASH_REASON);
        // The slash cut the capacity: the next window opens with what is left, not what was judged.
        // (The window was written before the call, so a re-entrant advanceEpoch finds it closed.)
        _windows[taskTypeId][sink].capacityAtOpen = uint40(registry.getSmoothedCapacity(taskTypeId, sink));
    }

    /// @dev The judgement of one window, and the readings the next window opens with.
    function _judge(bytes32 taskTypeId, address sink, Window memory w, uint256 epochs)
        internal
        view
        returns (Verdict memory v)
    {
        (v.received, v.returned) = _received(taskTypeId, sink);
        v.capacityNow = registry.getSmoothedCapacity(taskTypeId, sink);
        v.expected = _expected(taskTypeId, w, epochs, v.received, v.returned, v.capacityNow);
        // Stake is slashable while unbonding: leaving does not shrink a penalty.
        StakeManager.Account memory account = stakeManager.accountOf(sink);
        uint256 stakeAtRisk = account.staked + account.unbonding;
        if (rule == Rule.Shortfall) {
            v.slashed = _shortfallPenalty(taskTypeId, v.expected, w.completions, stakeAtRisk);
        } else {
            (v.strikes, v.slashed) = _strikes(taskTypeId, sink, w, epochs, v.expected, stakeAtRisk);
        }
    }

    /// @dev The default rule: every task short of expected (beyond a 6 % tolerance for noise) costs
    /// the stake that backs one task/epoch of capacity in this task type. An over-declaring sink is
    /// paid for work it cannot do and pays more for each such task than it was paid.
    function _shortfallPenalty(bytes32 taskTypeId, uint256 expected, uint256 completions, uint256 stakeAtRisk)
        internal
        view
        returns (uint256)
    {
        uint256 owed = expected * (BPS - SHORTFALL_TOLERANCE_BPS) / BPS;
        if (owed <= completions) return 0;
        uint256 perTask = uint256(registry.taskType(taskTypeId).stakeUnitsPerTask) * stakeManager.stakeUnit();
        uint256 penalty = (owed - completions) * perTask;
        return penalty < stakeAtRisk ? penalty : stakeAtRisk;
    }

    /// @dev The seeds' rule: completions below 50 % of expected count one strike per epoch; 3
    /// consecutive strikes slash 10 % of the stake. A passing window clears the strikes; a sink
    /// that has left cannot redeem them any more and pays for the strikes it left with, pro rata.
    function _strikes(
        bytes32 taskTypeId,
        address sink,
        Window memory w,
        uint256 epochs,
        uint256 expected,
        uint256 stakeAtRisk
    ) internal view returns (uint256 strikes, uint256 slashed) {
        bool failed = w.completions * BPS < FAIL_BELOW_BPS * expected;
        bool left = !registry.isRegistered(taskTypeId, sink);
        strikes = failed ? w.strikes + epochs : left ? w.strikes : 0;
        if (strikes >= STRIKES_TO_SLASH || (left && strikes != 0)) {
            uint256 share = strikes < STRIKES_TO_SLASH ? strikes : STRIKES_TO_SLASH;
            slashed = stakeAtRisk * SLASH_BPS * share / (BPS * STRIKES_TO_SLASH);
            strikes = 0;
        }
    }

    /// @dev min(declared capacity * epochs, tasks paid for in the window). The declared capacity is
    /// the larger of the window's opening snapshot and now; payments are measured from the 96-bit
    /// snapshot, which wraps: the difference over one window is what counts, and it fits.
    /// Pay the sink handed back in the window (`EscrowBuffer.returnPayment`) is not pay for work.
    function _expected(
        bytes32 taskTypeId,
        Window memory w,
        uint256 epochs,
        uint256 received,
        uint256 returned,
        uint256 capacityNow
    ) internal view returns (uint256) {
        uint256 receivedInWindow;
        uint256 returnedInWindow;
        unchecked {
            receivedInWindow = uint96(uint96(received) - w.receivedAtStart);
            returnedInWindow = uint96(uint96(returned) - w.returnedAtStart);
        }
        uint256 kept = receivedInWindow > returnedInWindow ? receivedInWindow - returnedInWindow : 0;
        uint256 paidTasks = kept / pricing.baseFee(taskTypeId);
        uint256 declared = (capacityNow > w.capacityAtOpen ? capacityNow : w.capacityAtOpen) * epochs;
        return paidTasks < declared ? paidTasks : declared;
    }

    /// @notice What `source` may still spend on receipts for the task type (token wei), counting
    /// its stream up to now.
    function creditOf(bytes32 taskTypeId, address source) external view returns (uint256) {
        return _accrued(taskTypeId, source).available;
    }

    /// @notice Whether the (source, task id) pair has been counted for the task type.
    function isCounted(bytes32 taskTypeId, address source, bytes32 taskId) external view returns (bool) {
        return _counted[taskTypeId][_taskKey(source, taskId)];
    }

    /// @notice The EIP-712 digest the source signs when it hands the task out (completedAt ignored).
    function requestDigest(Receipt calldata r) external view returns (bytes32) {
        return _hashTypedDataV4(_requestHash(r));
    }

    /// @notice The EIP-712 digest the sink signs when the task is done.
    function completionDigest(Receipt calldata r) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(COMPLETION_TYPEHASH, _requestHash(r), r.completedAt)));
    }

    /// @dev The source's credit with its stream paid up to now: the GDA records only the current
    /// segment of a flow (rate since `lastUpdated`), so what was paid before that and after the last
    /// checkpoint is not counted (a lower bound: never more than was paid). A flow opened in this
    /// block has paid nothing yet.
    function _accrued(bytes32 taskTypeId, address source) internal view returns (Credit memory c) {
        c = _credits[taskTypeId][source];
        ISuperToken token = registry.taskType(taskTypeId).token;
        ISuperfluidPool pool = ISuperfluidPool(backpressurePool.getPool(taskTypeId));
        (uint256 lastUpdated, int96 rate,) = token.getGDAFlowInfo(source, pool);
        uint256 from = lastUpdated > c.checkpointAt ? lastUpdated : c.checkpointAt;
        uint256 paid = rate > 0 && block.timestamp > from ? uint256(int256(rate)) * (block.timestamp - from) : 0;
        uint256 deposits = buffer.depositedBy(taskTypeId, source);
        c.available = (c.available + paid + deposits - c.depositsSeen).toUint128();
        c.depositsSeen = deposits.toUint128();
        c.checkpointAt = uint64(block.timestamp);
    }

    function _requestHash(Receipt calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(TASK_REQUEST_TYPEHASH, r.taskId, r.taskTypeId, r.sink, r.source, r.deadline));
    }

    /// @dev Task ids live in their source's namespace: one source cannot use up another's.
    function _taskKey(address source, bytes32 taskId) internal pure returns (bytes32) {
        return keccak256(abi.encode(source, taskId));
    }

    function windowOf(bytes32 taskTypeId, address sink) external view returns (Window memory) {
        return _windows[taskTypeId][sink];
    }

    function currentEpoch() public view returns (uint256) {
        return block.timestamp / epochSeconds;
    }

    /// @notice The epoch a window may be judged up to (exclusive): the current one, once
    /// `receiptGrace` seconds of it have passed, else the one before.
    function judgeableEpoch() public view returns (uint256) {
        return block.timestamp < receiptGrace ? 0 : (block.timestamp - receiptGrace) / epochSeconds;
    }

    function _openWindow(bytes32 taskTypeId, address sink) internal returns (Window storage w) {
        w = _windows[taskTypeId][sink];
        if (w.opened) return w;
        w.opened = true;
        w.epoch = uint32(currentEpoch());
        w.capacityAtOpen = uint40(registry.getSmoothedCapacity(taskTypeId, sink));
        (uint256 received, uint256 returned) = _received(taskTypeId, sink);
        (w.receivedAtStart, w.returnedAtStart) = (uint96(received), uint96(returned));
    }

    /// @dev Everything the sink has received from the pool, and everything it has handed back.
    function _received(bytes32 taskTypeId, address sink) internal view returns (uint256 received, uint256 returned) {
        received = ISuperfluidPool(backpressurePool.getPool(taskTypeId)).getTotalAmountReceivedByMember(sink);
        returned = buffer.returnedBy(taskTypeId, sink);
    }
}
