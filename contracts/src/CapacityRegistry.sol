// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ICapacitySignal} from "./interfaces/ICapacitySignal.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {StakeManager} from "./StakeManager.sol";
import {CapacityMath} from "./libraries/CapacityMath.sol";

/// @title CapacityRegistry: task types, sink registrations and smoothed, stake-capped capacity.
/// @notice Capacity is tasks per epoch. A sink declares it by commit-reveal; each reveal moves
/// the smoothed capacity one EWMA step towards the declaration capped by the sink's stake, and
/// the BackpressurePool re-weights that one sink in O(1). One stake never backs more than its
/// cap: across all of a sink's task types, the sum of max(declared, smoothed) stays within it.
contract CapacityRegistry is ICapacityRegistry {
    event TaskTypeRegistered(
        bytes32 indexed taskTypeId,
        address indexed creator,
        ISuperToken token,
        address pool,
        uint256 pricePerTask,
        uint256 bufferMax,
        string name
    );
    event SinkRegistered(bytes32 indexed taskTypeId, address indexed sink);
    event SinkDeregistered(bytes32 indexed taskTypeId, address indexed sink);
    event CapacityCapped(bytes32 indexed taskTypeId, address indexed sink, uint256 raw, uint256 smoothed);

    error EmptyName();
    error ZeroAddress();
    error ZeroPrice();
    error TaskTypeExists(bytes32 taskTypeId);
    error UnknownTaskType(bytes32 taskTypeId);
    error InsufficientStake(uint256 stake, uint256 required);
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
    error CapacityTooLarge(uint256 capacity);
    error NotStakeManager(address caller);

    struct SinkState {
        bool registered;
        uint32 index; // position in the task type's sink list
        uint64 lastUpdate; // timestamp of the last EWMA step
        uint64 raw; // last declaration after the stake cap (tasks/epoch)
        uint64 smoothed; // EWMA of `raw` (tasks/epoch)
    }

    struct Commitment {
        bytes32 hash;
        uint64 blockNumber;
    }

    StakeManager public immutable stakeManager;
    IBackpressureHooks public immutable backpressurePool;
    uint256 public immutable ewmaAlphaBps;
    uint256 public immutable commitTimeout; // blocks
    uint256 public immutable minUpdateInterval; // seconds between two EWMA steps of one sink
    uint256 public immutable maxTaskTypesPerSink;

    mapping(bytes32 => TaskType) private _taskTypes;
    mapping(bytes32 => address[]) private _sinks;
    mapping(bytes32 => mapping(address => SinkState)) private _sinkStates;
    mapping(bytes32 => mapping(address => Commitment)) private _commitments;
    mapping(address => bytes32[]) private _registrations;
    /// @dev Per sink: sum over its task types of max(raw, smoothed); kept <= its capacity cap.
    mapping(address => uint256) private _reserved;

    constructor(
        StakeManager stakeManager_,
        IBackpressureHooks backpressurePool_,
        uint256 ewmaAlphaBps_,
        uint256 commitTimeout_,
        uint256 minUpdateInterval_,
        uint256 maxTaskTypesPerSink_
    ) {
        stakeManager = stakeManager_;
        backpressurePool = backpressurePool_;
        ewmaAlphaBps = ewmaAlphaBps_;
        commitTimeout = commitTimeout_;
        minUpdateInterval = minUpdateInterval_;
        maxTaskTypesPerSink = maxTaskTypesPerSink_;
    }

    // ---------------------------------------------------------------- task types

    /// @notice Creates a task type and its GDA pool. Permissionless for anyone holding at least
    /// the minimum sink stake (a spam bar; the stake is not locked by this).
    /// @dev The id is bound to the creator, so nobody can squat a name someone else is about to use.
    function registerTaskType(string calldata name, ISuperToken token, uint256 price, uint256 maxBuffer)
        external
        returns (bytes32 taskTypeId)
    {
        if (bytes(name).length == 0) revert EmptyName();
        if (address(token) == address(0)) revert ZeroAddress();
        if (price == 0) revert ZeroPrice();
        uint256 stakeAmount = stakeManager.getStake(msg.sender);
        uint256 required = stakeManager.minSinkStake();
        if (stakeAmount < required) revert InsufficientStake(stakeAmount, required);
        taskTypeId = taskTypeIdOf(msg.sender, name);
        if (_taskTypes[taskTypeId].creator != address(0)) revert TaskTypeExists(taskTypeId);

        _taskTypes[taskTypeId] = TaskType({
            creator: msg.sender,
            token: token,
            pricePerTask: price,
            bufferMax: maxBuffer,
            totalCapacity: 0,
            sinkCount: 0
        });
        address pool = address(backpressurePool.createPool(taskTypeId, token));
        emit TaskTypeRegistered(taskTypeId, msg.sender, token, pool, price, maxBuffer, name);
    }

    function taskTypeIdOf(address creator, string calldata name) public pure returns (bytes32) {
        return keccak256(abi.encode(creator, name));
    }

    // ---------------------------------------------------------------- sinks

    /// @notice Joins a task type with zero capacity; capacity comes with the first reveal.
    function registerSink(bytes32 taskTypeId) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState storage s = _sinkStates[taskTypeId][msg.sender];
        if (s.registered) revert AlreadyRegistered(taskTypeId, msg.sender);
        uint256 stakeAmount = stakeManager.getStake(msg.sender);
        uint256 required = stakeManager.minSinkStake();
        if (stakeAmount < required) revert InsufficientStake(stakeAmount, required);
        bytes32[] storage regs = _registrations[msg.sender];
        if (regs.length >= maxTaskTypesPerSink) revert TooManyRegistrations(maxTaskTypesPerSink);

        regs.push(taskTypeId);
        s.registered = true;
        s.index = uint32(_sinks[taskTypeId].length);
        _sinks[taskTypeId].push(msg.sender);
        t.sinkCount += 1;
        stakeManager.lock(msg.sender);
        emit SinkRegistered(taskTypeId, msg.sender);
    }

    /// @notice Leaves a task type: capacity and pool units drop to zero at once, and the stake
    /// stops backing this registration (it stays slashable while unbonding).
    function deregisterSink(bytes32 taskTypeId) external {
        TaskType storage t = _existing(taskTypeId);
        SinkState storage s = _sinkStates[taskTypeId][msg.sender];
        if (!s.registered) revert NotRegistered(taskTypeId, msg.sender);

        _reserved[msg.sender] -= _max(s.raw, s.smoothed);
        t.totalCapacity -= s.smoothed;
        t.sinkCount -= 1;
        _removeFromList(taskTypeId, s.index);
        _removeRegistration(msg.sender, taskTypeId);
        delete _sinkStates[taskTypeId][msg.sender];
        delete _commitments[taskTypeId][msg.sender];
        stakeManager.unlock(msg.sender);
        emit SinkDeregistered(taskTypeId, msg.sender);
        backpressurePool.onCapacityChanged(taskTypeId, msg.sender, 0, true);
    }

    // ---------------------------------------------------------------- commit-reveal

    /// @inheritdoc ICapacitySignal
    /// @dev A commitment can only be replaced once it has expired, so a reveal cannot be raced by
    /// the sink's own later commitment.
    function commitCapacity(bytes32 taskTypeId, bytes32 commitHash) external {
        _existing(taskTypeId);
        if (!_sinkStates[taskTypeId][msg.sender].registered) revert NotRegistered(taskTypeId, msg.sender);
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
        delete _commitments[taskTypeId][msg.sender];
        _declare(taskTypeId, msg.sender, capacity);
    }

    function commitmentHash(address sink, bytes32 taskTypeId, uint256 capacity, bytes32 nonce)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(sink, taskTypeId, capacity, nonce));
    }

    /// @dev One EWMA step towards the stake-capped declaration, then O(1) pool re-weighting.
    /// Rate-limited per sink so that repeated updates cannot skip the smoothing.
    function _declare(bytes32 taskTypeId, address sink, uint256 declared) internal {
        TaskType storage t = _existing(taskTypeId);
        SinkState storage s = _sinkStates[taskTypeId][sink];
        if (!s.registered) revert NotRegistered(taskTypeId, sink);
        if (declared > type(uint64).max) revert CapacityTooLarge(declared);
        if (s.lastUpdate != 0 && block.timestamp < s.lastUpdate + minUpdateInterval) {
            revert UpdateTooFrequent(s.lastUpdate + minUpdateInterval);
        }

        uint256 oldSmoothed = s.smoothed;
        uint256 others = _reserved[sink] - _max(s.raw, oldSmoothed);
        uint256 cap = stakeManager.getCapacityCap(sink);
        uint256 room = cap > others ? cap - others : 0;
        uint256 capped = declared < room ? declared : room;
        uint256 smoothed = CapacityMath.ewma(oldSmoothed, capped, ewmaAlphaBps);

        _reserved[sink] = others + _max(capped, smoothed);
        t.totalCapacity = t.totalCapacity - oldSmoothed + smoothed;
        s.raw = uint64(capped);
        s.smoothed = uint64(smoothed);
        s.lastUpdate = uint64(block.timestamp);
        emit CapacityRevealed(taskTypeId, sink, capped, smoothed);
        backpressurePool.onCapacityChanged(taskTypeId, sink, smoothed, false);
    }

    // ---------------------------------------------------------------- stake changes

    /// @inheritdoc ICapacityRegistry
    /// @dev Scales every registration of the sink by cap / reserved (rounding down), which brings
    /// the total back within the cap; units follow at once, bypassing the deadband.
    function onStakeChanged(address sink) external {
        if (msg.sender != address(stakeManager)) revert NotStakeManager(msg.sender);
        uint256 reserved = _reserved[sink];
        uint256 cap = stakeManager.getCapacityCap(sink);
        if (reserved <= cap) return;

        bytes32[] storage regs = _registrations[sink];
        uint256 newReserved;
        for (uint256 i; i < regs.length; ++i) {
            bytes32 taskTypeId = regs[i];
            SinkState storage s = _sinkStates[taskTypeId][sink];
            uint256 raw = uint256(s.raw) * cap / reserved;
            uint256 smoothed = uint256(s.smoothed) * cap / reserved;
            _taskTypes[taskTypeId].totalCapacity = _taskTypes[taskTypeId].totalCapacity - s.smoothed + smoothed;
            s.raw = uint64(raw);
            s.smoothed = uint64(smoothed);
            newReserved += _max(raw, smoothed);
            emit CapacityCapped(taskTypeId, sink, raw, smoothed);
            backpressurePool.onCapacityChanged(taskTypeId, sink, smoothed, true);
        }
        _reserved[sink] = newReserved;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICapacitySignal
    function getSmoothedCapacity(bytes32 taskTypeId, address sink) external view returns (uint256) {
        return _sinkStates[taskTypeId][sink].smoothed;
    }

    function sinkState(bytes32 taskTypeId, address sink) external view returns (SinkState memory) {
        return _sinkStates[taskTypeId][sink];
    }

    function commitmentOf(bytes32 taskTypeId, address sink) external view returns (Commitment memory) {
        return _commitments[taskTypeId][sink];
    }

    function registrationsOf(address sink) external view returns (bytes32[] memory) {
        return _registrations[sink];
    }

    function reservedCapacity(address sink) external view returns (uint256) {
        return _reserved[sink];
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
    function pricePerTask(bytes32 taskTypeId) external view returns (uint256) {
        return _taskTypes[taskTypeId].pricePerTask;
    }

    /// @inheritdoc ICapacityRegistry
    function sinksOf(bytes32 taskTypeId) external view returns (address[] memory) {
        return _sinks[taskTypeId];
    }

    // ---------------------------------------------------------------- internals

    function _existing(bytes32 taskTypeId) internal view returns (TaskType storage t) {
        t = _taskTypes[taskTypeId];
        if (t.creator == address(0)) revert UnknownTaskType(taskTypeId);
    }

    /// @dev Swap-and-pop, keeping the moved sink's index right.
    function _removeFromList(bytes32 taskTypeId, uint32 index) internal {
        address[] storage list = _sinks[taskTypeId];
        address last = list[list.length - 1];
        list[index] = last;
        _sinkStates[taskTypeId][last].index = index;
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

    function _max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
