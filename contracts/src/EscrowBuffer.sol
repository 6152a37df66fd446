// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {ISuperfluid} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluid.sol";
import {SuperfluidBound} from "./base/SuperfluidBound.sol";
import {IEscrowBuffer} from "./interfaces/IEscrowBuffer.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";

/// @title EscrowBuffer: holds what the sinks cannot absorb, and pays it out when they can.
/// @notice Money arrives three ways, all per task type: the overflow share of the pool's stream
/// (this contract is a pool member whose units the BackpressurePool sizes), direct `deposit`s by
/// sources, and the GDA rounding remainders swept in by the BackpressurePool. `drain` pays
/// buffered money back through the same pool, i.e. to the sinks in proportion to their
/// capacity, which equals their spare capacity because the pool fills every sink to the same
/// fraction. Money is fungible per task type, so "oldest first" is simply "all of it, in order".
/// @dev Nobody can take money out except through `drain` into the task type's own pool. The
/// Superfluid host is fixed at deployment (SuperfluidBound), so no task type's token can point
/// this contract's distributions at another GDA.
contract EscrowBuffer is IEscrowBuffer, SuperfluidBound {
    using SuperTokenV1Library for ISuperToken;
    using SafeERC20 for IERC20;

    event RemainderCredited(bytes32 indexed taskTypeId, uint256 amount);
    event PaymentReturned(bytes32 indexed taskTypeId, address indexed sink, uint256 amount);

    error ZeroAmount();
    error UnknownTaskType(bytes32 taskTypeId);
    error BufferCapacityExceeded(uint256 level, uint256 amount, uint256 max);
    error NoSpareCapacity(uint256 inflowRate, uint256 absorbableRate);
    error BufferEmpty();
    error DrainTooSmall(uint256 amount);
    error NotBackpressurePool(address caller);

    struct Ledger {
        uint256 deposited; // direct deposits by sources
        uint256 credited; // GDA rounding remainders swept in
        uint256 drained; // paid back out to the sinks
        uint64 lastDrainAt;
        uint256 returned; // handed back by sinks (already counted as demand when it streamed in)
    }

    ICapacityRegistry public immutable registry;
    IBackpressureHooks public immutable backpressurePool;
    /// @notice A drain pays at most this many seconds of spare capacity, so sinks coming back
    /// from congestion are not flooded with more than they can work off.
    uint256 public immutable drainWindow;

    mapping(bytes32 => Ledger) private _ledgers;
    mapping(bytes32 => mapping(address => uint256)) private _deposits;
    mapping(bytes32 => mapping(address => uint256)) private _returned;

    constructor(
        ISuperfluid host_,
        ICapacityRegistry registry_,
        IBackpressureHooks backpressurePool_,
        uint256 drainWindow_
    ) SuperfluidBound(host_) {
        registry = registry_;
        backpressurePool = backpressurePool_;
        drainWindow = drainWindow_;
    }

    /// @inheritdoc IEscrowBuffer
    /// @dev Refused beyond `bufferMax`: a source that finds the buffer full must pause.
    function deposit(bytes32 taskTypeId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        ICapacityRegistry.TaskType memory t = _taskType(taskTypeId);
        uint256 level = bufferLevel(taskTypeId);
        if (level + amount > t.bufferMax) revert BufferCapacityExceeded(level, amount, t.bufferMax);
        _ledgers[taskTypeId].deposited += amount;
        _deposits[taskTypeId][msg.sender] += amount;
        emit Deposited(taskTypeId, msg.sender, amount);
        if (level + amount == t.bufferMax) emit BufferFull(taskTypeId, level + amount);
        IERC20(address(t.token)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice A sink hands back pay it cannot earn: paid with no task requested of it, or beyond
    /// what it can serve. The money joins the task type's buffer (drained to sinks with room
    /// later) and the CompletionTracker stops expecting work for it. So a source that streams but
    /// asks for nothing cannot get an honest sink charged for a shortfall, and an over-declaring
    /// sink can only give back what it could not earn. Never refused for a full buffer: giving
    /// money back must always be possible.
    function returnPayment(bytes32 taskTypeId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        ICapacityRegistry.TaskType memory t = _taskType(taskTypeId);
        _ledgers[taskTypeId].returned += amount;
        _returned[taskTypeId][msg.sender] += amount;
        emit PaymentReturned(taskTypeId, msg.sender, amount);
        IERC20(address(t.token)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEscrowBuffer
    /// @dev Permissionless. Pays min(level, spare rate * elapsed time, capped at `drainWindow`)
    /// into the pool as an instant distribution. The `sink` of the Drained event is the pool: the
    /// GDA splits the amount over its members by units.
    function drain(bytes32 taskTypeId) external {
        ICapacityRegistry.TaskType memory t = _taskType(taskTypeId);
        backpressurePool.updateOverflow(taskTypeId);
        ISuperfluidPool pool = ISuperfluidPool(backpressurePool.getPool(taskTypeId));
        uint256 inflow = backpressurePool.inflowRate(taskTypeId);
        uint256 absorbable = backpressurePool.absorbableRate(taskTypeId);
        if (pool.getUnits(address(this)) != 0 || inflow >= absorbable) revert NoSpareCapacity(inflow, absorbable);
        uint256 level = bufferLevel(taskTypeId);
        if (level == 0) revert BufferEmpty();

        Ledger storage ledger = _ledgers[taskTypeId];
        uint256 elapsed = block.timestamp - ledger.lastDrainAt;
        uint256 window = elapsed < drainWindow ? elapsed : drainWindow;
        uint256 spare = (absorbable - inflow) * window;
        uint256 requested = level < spare ? level : spare;
        uint256 amount = t.token.estimateDistributionActualAmount(address(this), pool, requested);
        if (amount == 0) revert DrainTooSmall(requested);

        ledger.drained += amount;
        ledger.lastDrainAt = uint64(block.timestamp);
        emit Drained(taskTypeId, address(pool), amount);
        (int256 claimable,) = pool.getClaimableNow(address(this));
        if (claimable > 0) pool.claimAll(address(this));
        t.token.distribute(address(this), pool, amount);
    }

    /// @notice Books GDA remainders the BackpressurePool has just transferred here.
    function creditRemainder(bytes32 taskTypeId, uint256 amount) external {
        if (msg.sender != address(backpressurePool)) revert NotBackpressurePool(msg.sender);
        _ledgers[taskTypeId].credited += amount;
        emit RemainderCredited(taskTypeId, amount);
    }

    /// @notice Emits BufferFull when the task type's buffer is saturated (for indexers and
    /// keepers); returns whether it is.
    function pokeSaturation(bytes32 taskTypeId) external returns (bool saturated) {
        saturated = isSaturated(taskTypeId);
        if (saturated) emit BufferFull(taskTypeId, bufferLevel(taskTypeId));
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IEscrowBuffer
    /// @dev Overflow counts as soon as the pool owes it (claimed or not), so the level is exact at
    /// every second without anyone settling anything.
    function bufferLevel(bytes32 taskTypeId) public view returns (uint256) {
        Ledger storage ledger = _ledgers[taskTypeId];
        ISuperfluidPool pool = ISuperfluidPool(backpressurePool.getPool(taskTypeId));
        uint256 overflow = address(pool) == address(0) ? 0 : pool.getTotalAmountReceivedByMember(address(this));
        return ledger.deposited + ledger.credited + ledger.returned + overflow - ledger.drained;
    }

    /// @inheritdoc IEscrowBuffer
    function bufferMax(bytes32 taskTypeId) external view returns (uint256) {
        return registry.taskType(taskTypeId).bufferMax;
    }

    /// @notice Level as a share of `bufferMax`, in basis points (may exceed 10,000: a stream's
    /// overflow keeps arriving until its source pauses).
    function saturationBps(bytes32 taskTypeId) external view returns (uint256) {
        uint256 max = registry.taskType(taskTypeId).bufferMax;
        uint256 level = bufferLevel(taskTypeId);
        if (max == 0) return level == 0 ? 0 : type(uint256).max;
        return level * 10_000 / max;
    }

    /// @notice The signal sources obey: pause or reduce the stream while this is true.
    function isSaturated(bytes32 taskTypeId) public view returns (bool) {
        uint256 level = bufferLevel(taskTypeId);
        return level > 0 && level >= registry.taskType(taskTypeId).bufferMax;
    }

    function ledgerOf(bytes32 taskTypeId) external view returns (Ledger memory) {
        return _ledgers[taskTypeId];
    }

    /// @notice What `sink` has handed back for a task type (`returnPayment`).
    function returnedBy(bytes32 taskTypeId, address sink) external view returns (uint256) {
        return _returned[taskTypeId][sink];
    }

    /// @notice What `source` has deposited directly for a task type.
    function depositedBy(bytes32 taskTypeId, address source) external view returns (uint256) {
        return _deposits[taskTypeId][source];
    }

    function _taskType(bytes32 taskTypeId) internal view returns (ICapacityRegistry.TaskType memory t) {
        t = registry.taskType(taskTypeId);
        if (t.creator == address(0)) revert UnknownTaskType(taskTypeId);
    }
}
