// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ICapacitySignal} from "./interfaces/ICapacitySignal.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {StakeManager} from "./StakeManager.sol";
import {CapacityMath} from "./libraries/CapacityMath.sol";

/// @title CapacityRegistry: task types, sink registrations and smoothed, stake-backed capacity.
/// @notice Capacity is tasks per epoch. A sink declares it by commit-reveal or by a signed
/// attestation relayed through the OffchainAggregator; each declaration moves the smoothed
/// capacity one EWMA step toward the declaration capped by the registration's allowance, at most
/// one step per `minUpdateInterval`. A sink also reports its backlog (tasks waiting); the pool
/// routes by the queue-adjusted capacity C / (1 + gamma * backlog / C), so a queue makes a sink
/// dearer and it gets less. One stake never backs more than its cap: each registration holds an
/// allowance, the allowances of a sink, each times its task type's `stakeUnitsPerTask`, sum to at
/// most its cap, and smoothed capacity never exceeds the allowance. The cap is linear in stake
/// (StakeManager) and each task type fixes at creation how many stake units back one task/epoch
/// of capacity, which is also what one task of shortfall costs at verification: the stake at
/// risk covers what an over-declaring sink can capture in an epoch, and splitting a stake over
/// identities gains nothing (the minimum stake per identity makes it strictly costly). When a registration's weight leaves the 5 % deadband
/// around what the pool last received, the BackpressurePool re-weights that one sink: O(1).
/// A task type's pool is an external call into a token someone chose. So every unit push is
/// isolated: it runs with a fixed gas allowance that the caller must be able to give in full,
/// and a push that fails is recorded (`UnitsPushFailed`; `pushed` keeps the old weight) for
/// anyone to retry with `syncUnits`, instead of reverting a slash, a deregistration, an
/// allowance move or an attestation batch.
/// @dev Everything about one registration lives in one storage slot (SinkState), so an update
/// inside the deadband costs one cold storage write.
contract CapacityRegistry is ICapacityRegistry {
    using SafeCast for uint256;

    event TaskTypeRegistered(
        bytes32 indexed taskTypeId,
        address indexed creator,
        ISuperToken token,
        address pool,
        uint256 pricePerTask,
        uint256 bufferMax,
        uint256 stakeUnitsPerTask,
        string name
    );
    event SinkRegistered(bytes32 indexed taskTypeId, address indexed sink, uint256 allowance);
    event SinkDeregistered(bytes32 indexed taskTypeId, address indexed sink);
    event AllowanceSet(bytes32 indexed taskTypeId, address indexed sink, uint256 allowance);
    event BacklogReported(bytes32 indexed taskTypeId, address indexed sink, uint256 backlog);
    event CapacityCapped(bytes32 indexed taskTypeId, address indexed sink, uint256 allowance, uint256 smoothed);
    event UnitsPushFailed(bytes32 indexed taskTypeId, address indexed sink, uint256 weight);

    error EmptyName();
    error ZeroAddress();
    error ZeroPrice();
    error ZeroStakePerTask();
    error PriceTooLarge(uint256 price);
    error TaskTypeExists(bytes32 taskTypeId);
    error UnknownTaskType(bytes32 taskTypeId);
    error InsufficientStake(uint256 stake, uint256 required);
    error NoCapacityLeft(uint256 cap, uint256 allocated);
    error AllowanceExceedsCap(uint256 allocated, uint256 cap);
    error AlreadyRegistered(bytes32 taskTypeId, address sink);
    error NotRegistered(bytes32 taskTypeId, address sink);
    error TooManyRegistrations(uint256 max);
    error ZeroCommitment();
    error CommitmentPending(uint256 expiresAtBlock);
    error NoCommitment();
    error RevealTooEarly(uint256 revealableAtBlock);
    error CommitmentExpired(uint256 expiredAtBlock);
    error CommitmentMismatch();
    error UpdateTooFrequent(uint256 nextUpdateAt);
    error ValueTooLarge(uint256 value);
    error NotStakeManager(address caller);
    error NotAggregator(address caller);
    error NotBackpressurePool(address caller);
    error InvalidParameters();
    error InsufficientGas(uint256 left, uint256 required);
    error InSync(bytes32 taskTypeId, address sink);

    /// @dev One slot per (task type, sink).
    struct SinkState {
        uint32 index; // position in the task type's sink list + 1; 0: not registered
        uint32 lastUpdate; // timestamp of the last EWMA step
        uint40 smoothed; // EWMA of the capped declarations (tasks/epoch)
        uint40 allowance; // most capacity this registration may claim: its share of the stake's cap
        uint40 backlog; // the sink's own report of tasks waiting
        uint40 pushed; // the queue-adjusted weight the pool last received
        uint32 nonce; // last accepted attestation nonce
    }

    struct Commitment {
        bytes32 hash;
        uint64 blockNumber;
    }

    /// @notice Largest capacity, backlog or allowance a slot holds (2^40 - 1 tasks).
    uint256 public constant MAX_VALUE = type(uint40).max;
    /// @notice Gas one unit push may use: the GDA's member update, the buffer's and a flow re-sync
    /// take under 1 M together. A hostile token burns at most this much per push.
    uint256 public constant UNIT_PUSH_GAS = 1_500_000;
    /// @notice Bytes per record of `applyAttestations`: sink (20), capacity (8), backlog (8), nonce (4).
    uint256 public constant ATTESTATION_RECORD_BYTES = 40;
    /// @dev The bits of a SinkState word an attestation keeps: index, allowance and pushed.
    uint256 internal constant _INDEX_ALLOWANCE_PUSHED =
        uint256(type(uint32).max) | uint256(type(uint40).max) << 104 | uint256(type(uint40).max) << 184;
    /// @dev A slash pushes every registration of the sink: they must fit one transaction together.
    uint256 internal constant _MAX_PUSH_GAS_PER_TX = 12_000_000;

    StakeManager public immutable stakeManager;
    IBackpressureHooks public immutable backpressurePool;
    address public immutable aggregator;
    uint256 public immutable ewmaAlphaBps;
    uint256 public immutable commitTimeout; // blocks
    uint256 public immutable minUpdateInterval; // seconds between two EWMA steps of one sink
    uint256 public immutable maxTaskTypesPerSink;
    uint256 public immutable queuePremiumBps; // gamma of the queue premium
    uint256 public immutable rebalanceThresholdBps;

    mapping(bytes32 => TaskType) private _taskTypes;
    mapping(bytes32 => address[]) private _sinks;
    mapping(bytes32 => mapping(address => SinkState)) private _states;
    mapping(bytes32 => mapping(address => Commitment)) private _commitments;
    mapping(address => bytes32[]) private _registrations;
    /// @dev Per sink: its registrations' allowances, each times its task type's stake units per
    /// task, summed; kept <= its capacity cap (stake units).
    mapping(address => uint256) private _allocated;

    struct Params {
        uint256 ewmaAlphaBps;
        uint256 commitTimeout;
        uint256 minUpdateInterval;
        uint256 maxTaskTypesPerSink;
        uint256 queuePremiumBps;
        uint256 rebalanceThresholdBps;
    }

    constructor(
        StakeManager stakeManager_,
        IBackpressureHooks backpressurePool_,
        address aggregator_,
        Params memory p
    ) {
        stakeManager = stakeManager_;
        backpressurePool = backpressurePool_;
        if (p.maxTaskTypesPerSink == 0 || p.maxTaskTypesPerSink * UNIT_PUSH_GAS > _MAX_PUSH_GAS_PER_TX) {
            revert InvalidParameters();
        }
        aggregator = aggregator_;
        ewmaAlphaBps = p.ewmaAlphaBps;
        commitTimeout = p.commitTimeout;
        minUpdateInterval = p.minUpdateInterval;
        maxTaskTypesPerSink = p.maxTaskTypesPerSink;
        queuePremiumBps = p.queuePremiumBps;
        rebalanceThresholdBps = p.rebalanceThresholdBps;
    }

    // ---------------------------------------------------------------- task types

    /// @notice Creates a task type and its GDA pool. Permissionless for anyone holding at least
    /// the minimum sink stake (a spam bar; the stake is not locked by this). `stakeUnitsPerTask`:
    /// how many stake units back one task/epoch of capacity; one task of shortfall costs as much
    /// at verification, so it should be worth a few times the price of a task.
    /// @dev The id is bound to the creator, so nobody can squat a name someone else is about to use.
    function registerTaskType(
        string calldata name,
        ISuperToken token,
        uint256 price,
        uint256 maxBuffer,
        uint256 stakeUnitsPerTask
    ) external returns (bytes32 taskTypeId) {
        if (bytes(name).length == 0) revert EmptyName();
        if (address(token) == address(0)) revert ZeroAddress();
        if (price == 0) revert ZeroPrice();
        if (price > type(uint96).max) revert PriceTooLarge(price);
        if (stakeUnitsPerTask == 0) revert ZeroStakePerTask();
        if (stakeUnitsPerTask > type(uint32).max) revert ValueTooLarge(stakeUnitsPerTask);
        _requireMinimumStake(msg.sender);
        taskTypeId = taskTypeIdOf(msg.sender, name);
        if (_taskTypes[taskTypeId].creator != address(0)) revert TaskTypeExists(taskTypeId);

        _taskTypes[taskTypeId] = TaskType({
            creator: msg.sender,
            sinkCount: 0,
            stakeUnitsPerTask: uint32(stakeUnitsPerTask),
            token: token,
            pricePerTask: uint96(price),
            bufferMax: maxBuffer,
            totalCapacity: 0,
            totalWeight: 0,
            weightUpdatedAt: uint32(block.timestamp),
            weightSeconds: 0
        });
        address pool = address(backpressurePool.createPool(taskTypeId, token));
        emit TaskTypeRegistered(taskTypeId, msg.sender, token, pool, price, maxBuffer, stakeUnitsPerTask, name);
    }

    function taskTypeIdOf(address creator, string calldata name) public pure returns (bytes32) {
        return keccak256(abi.encode(creator, name));
    }

    // ---------------------------------------------------------------- sinks

    /// @notice Joins a task type with zero capacity and, as allowance, all the capacity the part of
    /// the stake's cap not yet allotted to the sink's other task types backs here. Capacity comes
    /// with the first declaration.
    function registerSink(bytes32 taskTypeId) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState memory previous = _load(taskTypeId, msg.sender);
        if (previous.index != 0) revert AlreadyRegistered(taskTypeId, msg.sender);
        _requireMinimumStake(msg.sender);
        bytes32[] storage regs = _registrations[msg.sender];
        if (regs.length >= maxTaskTypesPerSink) revert TooManyRegistrations(maxTaskTypesPerSink);
        uint256 cap = stakeManager.getCapacityCap(msg.sender);
        uint256 allocated = _allocated[msg.sender];
        uint256 perTask = t.stakeUnitsPerTask;
        uint256 allowance = cap > allocated ? (cap - allocated) / perTask : 0;
        if (allowance == 0) revert NoCapacityLeft(cap, allocated);
        if (allowance > MAX_VALUE) allowance = MAX_VALUE;

        regs.push(taskTypeId);
        _sinks[taskTypeId].push(msg.sender);
        _states[taskTypeId][msg.sender] = SinkState({
            index: uint32(_sinks[taskTypeId].length),
            lastUpdate: 0,
            smoothed: 0,
            allowance: uint40(allowance),
            backlog: 0,
            pushed: previous.pushed, // non-zero only if the push at deregistration failed
            nonce: previous.nonce // attestation nonces outlive registrations (see deregisterSink)
        });
        _allocated[msg.sender] = allocated + allowance * perTask;
        t.sinkCount += 1;
        stakeManager.lock(msg.sender);
        emit SinkRegistered(taskTypeId, msg.sender, allowance);
    }

    /// @notice Moves cap between the sink's task types: the allowances must fit within the cap. A
    /// lower allowance lowers the smoothed capacity at once (never above the allowance).
    function setAllowance(bytes32 taskTypeId, uint256 allowance) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState memory s = _registered(taskTypeId, msg.sender);
        if (allowance > MAX_VALUE) revert ValueTooLarge(allowance);
        uint256 allocated =
            _allocated[msg.sender] + allowance * t.stakeUnitsPerTask - uint256(s.allowance) * t.stakeUnitsPerTask;
        uint256 cap = stakeManager.getCapacityCap(msg.sender);
        if (allocated > cap) revert AllowanceExceedsCap(allocated, cap);
        _allocated[msg.sender] = allocated;
        s.allowance = uint40(allowance);
        emit AllowanceSet(taskTypeId, msg.sender, allowance);
        uint256 smoothed = s.smoothed > allowance ? allowance : s.smoothed;
        _apply(taskTypeId, t, msg.sender, s, smoothed, s.backlog, true);
    }

    /// @notice Leaves a task type: capacity and pool units drop to zero at once, and the stake
    /// stops backing this registration (it stays slashable while unbonding).
    function deregisterSink(bytes32 taskTypeId) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState memory s = _registered(taskTypeId, msg.sender);
        _setTotals(
            t,
            t.totalCapacity - s.smoothed,
            t.totalWeight - CapacityMath.queueWeight(s.smoothed, s.backlog, queuePremiumBps)
        );
        t.sinkCount -= 1;
        _allocated[msg.sender] -= uint256(s.allowance) * t.stakeUnitsPerTask;
        _removeFromList(taskTypeId, s.index - 1);
        _removeRegistration(msg.sender, taskTypeId);
        // Everything goes but the attestation nonce (an attestation signed before leaving, still
        // fresh, must not be replayable once the sink registers again: nonces are per sink) and
        // the weight the pool holds, until the push to zero succeeds.
        s = SinkState(0, 0, 0, 0, 0, s.pushed, s.nonce);
        _store(taskTypeId, msg.sender, s);
        delete _commitments[taskTypeId][msg.sender];
        stakeManager.unlock(msg.sender);
        emit SinkDeregistered(taskTypeId, msg.sender);
        if (s.pushed != 0) _push(taskTypeId, msg.sender, s, 0);
    }

    /// @notice Brings one sink's pool units to its current weight (zero once deregistered). Anyone
    /// may call it: it retries a push that failed and catches up drift in O(1). Reverts if the
    /// pool already holds the weight, or with the pool's own error if the push fails again.
    function syncUnits(bytes32 taskTypeId, address sink) external {
        SinkState memory s = _load(taskTypeId, sink);
        uint256 weight = s.index == 0 ? 0 : CapacityMath.queueWeight(s.smoothed, s.backlog, queuePremiumBps);
        if (s.pushed == weight) revert InSync(taskTypeId, sink);
        s.pushed = uint40(weight);
        _store(taskTypeId, sink, s);
        backpressurePool.setSinkUnits(taskTypeId, sink, weight);
    }

    // ---------------------------------------------------------------- commit-reveal

    /// @inheritdoc ICapacitySignal
    /// @dev A commitment can only be replaced once it has expired, so a reveal cannot be raced by
    /// the sink's own later commitment.
    function commitCapacity(bytes32 taskTypeId, bytes32 commitHash) external {
        _existing(taskTypeId);
        _registered(taskTypeId, msg.sender);
        if (commitHash == bytes32(0)) revert ZeroCommitment();
        Commitment storage c = _commitments[taskTypeId][msg.sender];
        if (c.hash != bytes32(0) && block.number <= c.blockNumber + commitTimeout) {
            revert CommitmentPending(c.blockNumber + commitTimeout);
        }
        c.hash = commitHash;
        c.blockNumber = uint64(block.number);
        emit CapacityCommitted(taskTypeId, msg.sender, commitHash);
    }

    /// @inheritdoc ICapacitySignal
    /// @dev The hash binds sender and task type, so a commitment seen in the mempool cannot be
    /// replayed by another address or for another task type. Reveal needs >= 1 block after commit
    /// (no same-block commit+reveal) and at most `commitTimeout` blocks.
    function revealCapacity(bytes32 taskTypeId, uint256 capacity, bytes32 nonce) external {
        Commitment memory c = _commitments[taskTypeId][msg.sender];
        if (c.hash == bytes32(0)) revert NoCommitment();
        if (block.number <= c.blockNumber) revert RevealTooEarly(c.blockNumber + 1);
        if (block.number > c.blockNumber + commitTimeout) revert CommitmentExpired(c.blockNumber + commitTimeout);
        if (c.hash != commitmentHash(msg.sender, taskTypeId, capacity, nonce)) revert CommitmentMismatch();
        if (capacity > MAX_VALUE) revert ValueTooLarge(capacity);
        TaskType storage t = _existing(taskTypeId);
        SinkState memory s = _registered(taskTypeId, msg.sender);
        if (_tooSoon(s)) revert UpdateTooFrequent(uint256(s.lastUpdate) + minUpdateInterval);
        delete _commitments[taskTypeId][msg.sender];
        _step(taskTypeId, t, msg.sender, s, capacity, s.backlog);
    }

    function commitmentHash(address sink, bytes32 taskTypeId, uint256 capacity, bytes32 nonce)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(sink, taskTypeId, capacity, nonce));
    }

    // ---------------------------------------------------------------- backlog and attestations

    /// @notice The sink reports how many tasks wait in its queue; only the sink itself can (or its
    /// signed attestation). Not rate-limited: it only moves the sink's own weight, never above its
    /// smoothed capacity.
    function reportBacklog(bytes32 taskTypeId, uint256 backlog) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState memory s = _registered(taskTypeId, msg.sender);
        if (backlog > MAX_VALUE) revert ValueTooLarge(backlog);
        emit BacklogReported(taskTypeId, msg.sender, backlog);
        _apply(taskTypeId, t, msg.sender, s, s.smoothed, backlog, false);
    }

    /// @inheritdoc ICapacityRegistry
    /// @dev Each record is judged alone, in order, by the same rules as a reveal (allowance cap,
    /// one EWMA step, rate limit) plus a nonce above the last accepted one; it is `_step` and
    /// `_apply` (deadband push) written out for a batch, for gas: a relayed attestation is meant
    /// to cost little more than its signature check and its registration's one slot.
    /// - The task type's totals are held in memory and written once at the end. Every record
    ///   lands at the same timestamp, so the weight integral advances exactly as with a write per
    ///   record. Before a unit push the totals are written (the pool reads them) and after it they
    ///   are read back (the push calls into a token someone chose, which may call back here).
    /// - No event on success (the batch is in the calldata; the aggregator counts it).
    function applyAttestations(bytes32 taskTypeId, bytes calldata records)
        external
        returns (uint256 applied, bytes memory outcomes)
    {
        if (msg.sender != aggregator) revert NotAggregator(msg.sender);
        uint256 n = records.length / ATTESTATION_RECORD_BYTES;
        outcomes = new bytes(n);
        TaskType storage t = _taskTypes[taskTypeId];
        Totals memory totals = Totals(t.totalCapacity, t.totalWeight, false);
        mapping(address => SinkState) storage states = _states[taskTypeId];
        uint256 statesSlot;
        assembly ("memory-safe") {
            statesSlot := states.slot
        }
        for (uint256 i; i < n; ++i) {
            uint256 record;
            assembly ("memory-safe") {
                record := add(records.offset, mul(i, ATTESTATION_RECORD_BYTES))
            }
            Rejection reason = _applyRecord(taskTypeId, t, statesSlot, record, totals);
            if (reason == Rejection.None) ++applied;
            else outcomes[i] = bytes1(uint8(reason));
        }
        if (totals.unwritten) _setTotals(t, totals.capacity, totals.weight);
    }

    // ---------------------------------------------------------------- hooks

    /// @inheritdoc ICapacityRegistry
    /// @dev Scales every allowance and smoothed capacity of the sink by cap / allocated (rounding
    /// down), which brings the allowances back within the cap; units follow at once.
    function onStakeChanged(address sink) external {
        if (msg.sender != address(stakeManager)) revert NotStakeManager(msg.sender);
        uint256 allocated = _allocated[sink];
        uint256 cap = stakeManager.getCapacityCap(sink);
        if (allocated <= cap) return;

        bytes32[] storage regs = _registrations[sink];
        uint256 newAllocated;
        for (uint256 i; i < regs.length; ++i) {
            bytes32 taskTypeId = regs[i];
            SinkState memory s = _load(taskTypeId, sink);
            TaskType storage t = _taskTypes[taskTypeId];
            uint256 allowance = uint256(s.allowance) * cap / allocated;
            uint256 smoothed = uint256(s.smoothed) * cap / allocated;
            s.allowance = uint40(allowance);
            newAllocated += allowance * t.stakeUnitsPerTask;
            emit CapacityCapped(taskTypeId, sink, allowance, smoothed);
            _apply(taskTypeId, t, sink, s, smoothed, s.backlog, true);
        }
        _allocated[sink] = newAllocated;
    }

    /// @inheritdoc ICapacityRegistry
    function takeWeights(bytes32 taskTypeId, uint256 start, uint256 count)
        external
        returns (address[] memory sinks, uint256[] memory weights, uint256 total)
    {
        if (msg.sender != address(backpressurePool)) revert NotBackpressurePool(msg.sender);
        address[] storage list = _sinks[taskTypeId];
        total = list.length;
        uint256 n = start >= total ? 0 : total - start < count ? total - start : count;
        sinks = new address[](n);
        weights = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            sinks[i] = list[start + i];
            SinkState storage s = _states[taskTypeId][sinks[i]];
            uint256 weight = CapacityMath.queueWeight(s.smoothed, s.backlog, queuePremiumBps);
            if (s.pushed != weight) s.pushed = uint40(weight);
            weights[i] = weight;
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICapacitySignal
    function getSmoothedCapacity(bytes32 taskTypeId, address sink) external view returns (uint256) {
        return _states[taskTypeId][sink].smoothed;
    }

    /// @inheritdoc ICapacityRegistry
    function signalOf(bytes32 taskTypeId, address sink) external view returns (uint256 capacity, uint256 backlog) {
        SinkState storage s = _states[taskTypeId][sink];
        return (s.smoothed, s.backlog);
    }

    /// @inheritdoc ICapacityRegistry
    function weightOf(bytes32 taskTypeId, address sink) external view returns (uint256) {
        SinkState storage s = _states[taskTypeId][sink];
        return CapacityMath.queueWeight(s.smoothed, s.backlog, queuePremiumBps);
    }

    function sinkState(bytes32 taskTypeId, address sink) external view returns (SinkState memory) {
        return _states[taskTypeId][sink];
    }

    /// @inheritdoc ICapacityRegistry
    function isRegistered(bytes32 taskTypeId, address sink) external view returns (bool) {
        return _states[taskTypeId][sink].index != 0;
    }

    function commitmentOf(bytes32 taskTypeId, address sink) external view returns (Commitment memory) {
        return _commitments[taskTypeId][sink];
    }

    function registrationsOf(address sink) external view returns (bytes32[] memory) {
        return _registrations[sink];
    }

    /// @notice Sum of the sink's allowances (<= its capacity cap).
    function allocatedCapacity(address sink) external view returns (uint256) {
        return _allocated[sink];
    }

    /// @inheritdoc ICapacityRegistry
    function taskType(bytes32 taskTypeId) external view returns (TaskType memory) {
        return _taskTypes[taskTypeId];
    }

    /// @inheritdoc ICapacityRegistry
    function exists(bytes32 taskTypeId) external view returns (bool) {
        return _taskTypes[taskTypeId].creator != address(0);
    }

    /// @inheritdoc ICapacityRegistry
    function totalCapacity(bytes32 taskTypeId) external view returns (uint256) {
        return _taskTypes[taskTypeId].totalCapacity;
    }

    /// @inheritdoc ICapacityRegistry
    function totalWeight(bytes32 taskTypeId) external view returns (uint256) {
        return _taskTypes[taskTypeId].totalWeight;
    }

    /// @inheritdoc ICapacityRegistry
    /// @dev Wraps at 2^96 like a Uniswap oracle's cumulative price: readers take differences.
    function weightSecondsOf(bytes32 taskTypeId) external view returns (uint96) {
        return _weightSecondsNow(_taskTypes[taskTypeId]);
    }

    /// @inheritdoc ICapacityRegistry
    function pricePerTask(bytes32 taskTypeId) external view returns (uint256) {
        return _taskTypes[taskTypeId].pricePerTask;
    }

    /// @inheritdoc ICapacityRegistry
    function sinksOf(bytes32 taskTypeId) external view returns (address[] memory) {
        return _sinks[taskTypeId];
    }

    // ---------------------------------------------------------------- internals

    /// @dev One EWMA step toward the declaration capped by the allowance.
    function _step(
        bytes32 taskTypeId,
        TaskType storage t,
        address sink,
        SinkState memory s,
        uint256 declared,
        uint256 backlog
    ) internal {
        uint256 capped = declared < s.allowance ? declared : s.allowance;
        uint256 smoothed = CapacityMath.ewma(s.smoothed, capped, ewmaAlphaBps);
        s.lastUpdate = uint32(block.timestamp);
        // Reveals are announced; relayed attestations are not (their batch is in the calldata).
        if (msg.sender == sink) emit CapacityRevealed(taskTypeId, sink, capped, smoothed);
        _apply(taskTypeId, t, sink, s, smoothed, backlog, false);
    }

    /// @dev Writes the registration's new capacity and backlog (one slot), keeps both totals exact,
    /// and re-weights the sink in the pool when its weight left the deadband (or `force`).
    function _apply(
        bytes32 taskTypeId,
        TaskType storage t,
        address sink,
        SinkState memory s,
        uint256 smoothed,
        uint256 backlog,
        bool force
    ) internal {
        uint256 oldWeight = CapacityMath.queueWeight(s.smoothed, s.backlog, queuePremiumBps);
        uint256 weight = CapacityMath.queueWeight(smoothed, backlog, queuePremiumBps);
        _setTotals(t, t.totalCapacity - s.smoothed + smoothed, t.totalWeight - oldWeight + weight);
        s.smoothed = uint40(smoothed);
        s.backlog = uint40(backlog);
        bool push = force ? s.pushed != weight : CapacityMath.outsideDeadband(s.pushed, weight, rebalanceThresholdBps);
        _store(taskTypeId, sink, s);
        if (push) _push(taskTypeId, sink, s, weight);
    }

    /// @dev The weight integral up to now: wraps at 2^96 (readers take differences).
    function _weightSecondsNow(TaskType storage t) internal view returns (uint96) {
        unchecked {
            return t.weightSeconds + uint96(uint256(t.totalWeight) * (block.timestamp - t.weightUpdatedAt));
        }
    }

    /// @dev Writes both totals, first adding the old weight's time to the weight integral (the
    /// PricingCurve averages capacity over an epoch with it, so a backlog flipped around its call
    /// moves nothing).
    function _setTotals(TaskType storage t, uint256 capacity, uint256 weight) internal {
        t.weightSeconds = _weightSecondsNow(t);
        (t.totalCapacity, t.totalWeight, t.weightUpdatedAt) =
        (capacity.toUint64(), weight.toUint64(), uint32(block.timestamp));
    }

    /// @dev The isolated unit push (see the contract's notes). The registration is stored with the
    /// new weight first (checks-effects-interactions); a failed push writes the old one back.
    /// Requiring the full allowance up front means a push can fail only through the pool's own
    /// code, never because the caller chose a gas limit just short of it.
    function _push(bytes32 taskTypeId, address sink, SinkState memory s, uint256 weight) internal {
        uint256 required = UNIT_PUSH_GAS + UNIT_PUSH_GAS / 63 + 10_000;
        if (gasleft() < required) revert InsufficientGas(gasleft(), required);
        uint40 previous = s.pushed;
        s.pushed = uint40(weight);
        _store(taskTypeId, sink, s);
        try backpressurePool.setSinkUnits{gas: UNIT_PUSH_GAS}(taskTypeId, sink, weight) {}
        catch {
            s.pushed = previous;
            _store(taskTypeId, sink, s);
            emit UnitsPushFailed(taskTypeId, sink, weight);
        }
    }

    /// @dev A task type's totals while a batch of attestations is applied.
    struct Totals {
        uint256 capacity;
        uint256 weight;
        bool unwritten; // changed since last written to storage
    }

    /// @dev One record of an `applyAttestations` batch (calldata offset `record`): judged against
    /// its registration's slot, then `_step` and `_apply` (force = false) on the slot's word: one
    /// EWMA step toward the declaration capped by the allowance, the backlog and nonce recorded,
    /// the rate-limit clock restarted (index, allowance and pushed kept), the totals moved, and a
    /// unit push if the weight left the deadband. Written out on the word because this runs once
    /// per relayed attestation; the arithmetic is CapacityMath's (ewma, queueWeight,
    /// outsideDeadband), exactly.
    function _applyRecord(bytes32 taskTypeId, TaskType storage t, uint256 statesSlot, uint256 record, Totals memory totals)
        internal
        returns (Rejection reason)
    {
        address sink;
        uint256 slot;
        uint256 word;
        uint256 next; // the new word, without the smoothed capacity yet
        uint256 declared;
        {
            uint256 backlog;
            uint256 nonce;
            assembly ("memory-safe") {
                let w := calldataload(record)
                sink := shr(96, w)
                declared := and(shr(32, w), 0xffffffffffffffff)
                w := calldataload(add(record, 28))
                backlog := shr(192, w)
                nonce := and(shr(160, w), 0xffffffff)
                // _states[taskTypeId][sink]
                mstore(0x00, sink)
                mstore(0x20, statesSlot)
                slot := keccak256(0x00, 0x40)
                word := sload(slot)
            }
            reason = _judgeAttestation(word, declared, backlog, nonce);
            if (reason != Rejection.None) return reason;
            next = (word & _INDEX_ALLOWANCE_PUSHED) | uint256(uint32(block.timestamp)) << 32 | backlog << 144
                | nonce << 224;
        }
        uint256 smoothed = uint40(word >> 64);
        {
            uint256 capped = uint40(word >> 104); // the allowance
            if (declared < capped) capped = declared;
            // CapacityMath.ewma: with both values below 2^40 and alpha <= BPS (checked here, as
            // the library's own subtraction would) nothing overflows; (weighted + BPS - 1) / BPS
            // is its ceilDiv.
            uint256 keep = CapacityMath.BPS - ewmaAlphaBps;
            unchecked {
                if (capped != smoothed) {
                    uint256 weighted = ewmaAlphaBps * capped + keep * smoothed;
                    capped = capped > smoothed
                        ? (weighted + CapacityMath.BPS - 1) / CapacityMath.BPS
                        : weighted / CapacityMath.BPS;
                }
            }
            totals.capacity = totals.capacity - smoothed + capped;
            totals.weight -= _weightOf(smoothed, uint40(word >> 144));
            next |= capped << 64;
        }
        uint256 weight = _weightOf(uint40(next >> 64), uint40(next >> 144));
        totals.weight += weight;
        if (_outsideDeadband(uint40(word >> 184), weight)) {
            _setTotals(t, totals.capacity, totals.weight); // the pool reads them
            _push(taskTypeId, sink, _decode(next), weight); // stores the slot
            // the push called into a token someone chose, which may have called back here
            (totals.capacity, totals.weight, totals.unwritten) = (t.totalCapacity, t.totalWeight, false);
        } else {
            assembly ("memory-safe") {
                sstore(slot, next)
            }
            totals.unwritten = true;
        }
    }

    /// @dev CapacityMath.queueWeight, without the call when there is no backlog.
    function _weightOf(uint256 capacity, uint256 backlog) internal view returns (uint256) {
        return backlog == 0 ? capacity : CapacityMath.queueWeight(capacity, backlog, queuePremiumBps);
    }

    /// @dev CapacityMath.outsideDeadband with this registry's threshold, written out (checked
    /// arithmetic, so it reverts exactly where the library would).
    function _outsideDeadband(uint256 current, uint256 target) internal view returns (bool) {
        if (current == target) return false;
        if (current == 0 || target == 0) return true;
        uint256 diff = current > target ? current - target : target - current;
        return diff * CapacityMath.BPS > rebalanceThresholdBps * current;
    }

    /// @dev Why an attestation cannot be applied to the registration stored as `word`, checked
    /// in this order: not registered, nonce not above the last accepted one, a value beyond what
    /// a slot holds (the nonce is 4 bytes in the record, so it always fits), rate limit.
    function _judgeAttestation(uint256 word, uint256 declared, uint256 backlog, uint256 nonce)
        internal
        view
        returns (Rejection)
    {
        if (uint32(word) == 0) return Rejection.NotRegistered;
        if (nonce <= uint32(word >> 224)) return Rejection.NonceNotIncreasing;
        if (declared > MAX_VALUE || backlog > MAX_VALUE) return Rejection.OutOfRange;
        uint256 lastUpdate = uint32(word >> 32);
        if (lastUpdate != 0 && block.timestamp < lastUpdate + minUpdateInterval) return Rejection.TooFrequent;
        return Rejection.None;
    }

    function _tooSoon(SinkState memory s) internal view returns (bool) {
        return s.lastUpdate != 0 && block.timestamp < uint256(s.lastUpdate) + minUpdateInterval;
    }

    function _requireMinimumStake(address who) internal view {
        uint256 stakeAmount = stakeManager.getStake(who);
        uint256 required = stakeManager.minSinkStake();
        if (stakeAmount < required) revert InsufficientStake(stakeAmount, required);
    }

    function _existing(bytes32 taskTypeId) internal view returns (TaskType storage t) {
        t = _taskTypes[taskTypeId];
        if (t.creator == address(0)) revert UnknownTaskType(taskTypeId);
    }

    function _registered(bytes32 taskTypeId, address sink) internal view returns (SinkState memory s) {
        s = _load(taskTypeId, sink);
        if (s.index == 0) revert NotRegistered(taskTypeId, sink);
    }

    /// @dev Reads a registration's slot with one SLOAD (the compiler would load field by field).
    function _load(bytes32 taskTypeId, address sink) internal view returns (SinkState memory) {
        SinkState storage p = _states[taskTypeId][sink];
        uint256 word;
        assembly ("memory-safe") {
            word := sload(p.slot)
        }
        return _decode(word);
    }

    /// @dev Writes a registration's slot with one SSTORE (the compiler would store field by field).
    function _store(bytes32 taskTypeId, address sink, SinkState memory s) internal {
        SinkState storage p = _states[taskTypeId][sink];
        uint256 word = _encode(s);
        assembly ("memory-safe") {
            sstore(p.slot, word)
        }
    }

    /// @dev Bit layout = Solidity's own packing of SinkState, so ordinary accessors see the same
    /// data: index 0-31, lastUpdate 32-63, smoothed 64-103, allowance 104-143, backlog 144-183,
    /// pushed 184-223, nonce 224-255.
    function _decode(uint256 word) internal pure returns (SinkState memory s) {
        s.index = uint32(word);
        s.lastUpdate = uint32(word >> 32);
        s.smoothed = uint40(word >> 64);
        s.allowance = uint40(word >> 104);
        s.backlog = uint40(word >> 144);
        s.pushed = uint40(word >> 184);
        s.nonce = uint32(word >> 224);
    }

    function _encode(SinkState memory s) internal pure returns (uint256) {
        return uint256(s.index) | uint256(s.lastUpdate) << 32 | uint256(s.smoothed) << 64 | uint256(s.allowance)
            << 104 | uint256(s.backlog) << 144 | uint256(s.pushed) << 184 | uint256(s.nonce) << 224;
    }

    /// @dev Swap-and-pop, keeping the moved sink's index right.
    function _removeFromList(bytes32 taskTypeId, uint256 position) internal {
        address[] storage list = _sinks[taskTypeId];
        address last = list[list.length - 1];
        list[position] = last;
        _states[taskTypeId][last].index = uint32(position + 1);
        list.pop();
    }

    function _removeRegistration(address sink, bytes32 taskTypeId) internal {
        bytes32[] storage regs = _registrations[sink];
        for (uint256 i; i < regs.length; ++i) {
            if (regs[i] == taskTypeId) {
                regs[i] = regs[regs.length - 1];
                regs.pop();
                return;
            }
        }
    }
}
