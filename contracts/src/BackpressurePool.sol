// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {
    PoolConfig
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/IGeneralDistributionAgreementV1.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {ISuperfluid} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluid.sol";
import {SuperfluidBound} from "./base/SuperfluidBound.sol";
import {PoolAdmin} from "./PoolAdmin.sol";
import {IBackpressurePool} from "./interfaces/IBackpressurePool.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {EscrowBuffer} from "./EscrowBuffer.sol";
import {PricingCurve} from "./PricingCurve.sol";
import {CapacityMath} from "./libraries/CapacityMath.sol";

/// @title BackpressurePool: one Superfluid GDA pool per task type, weighted by capacity.
/// @notice Sources stream straight into the pool (`distributeFlow`, open to any address). Each
/// sink holds `weight * unitScale` units, its weight being its queue-adjusted capacity from the
/// CapacityRegistry; the EscrowBuffer holds the overflow share, sized so the sinks together
/// receive exactly what they can absorb (weight * base fee / epoch) and the buffer the rest. A
/// change at one sink costs O(1) GDA calls: its own units, at most the buffer's, and a re-sync
/// only when the GDA's rounding remainder has become material.
/// Every unit change goes through this contract, which meters what the pool actually paid out
/// over time (`paidOut`): prices read that, never an instantaneous flow rate a one-block stream
/// could set.
/// @dev Each pool's admin is a PoolAdmin of its own (deployed here), so the GDA sends each
/// pool's rounding remainder (the adjustment flow) to an account of that task type only;
/// `rebalance` and `updateOverflow` sweep it into that task type's buffer. Tokens must belong to
/// the Superfluid host fixed at deployment (SuperfluidBound).
contract BackpressurePool is IBackpressureHooks, SuperfluidBound {
    using SuperTokenV1Library for ISuperToken;
    using SafeCast for uint256;
    using SafeCast for int256;

    event PoolCreated(bytes32 indexed taskTypeId, address pool, ISuperToken token);
    event SinkUnitsUpdated(bytes32 indexed taskTypeId, address indexed sink, uint256 units);
    event OverflowUnitsUpdated(bytes32 indexed taskTypeId, uint256 units, uint256 inflowRate, uint256 absorbableRate);
    event CapacityLimitSet(bytes32 indexed taskTypeId, uint256 limit);
    event RemainderSwept(bytes32 indexed taskTypeId, uint256 amount);

    error NotRegistry(address caller);
    error NotPipeline(address caller);
    error UnknownTaskType(bytes32 taskTypeId);

    struct PoolInfo {
        ISuperfluidPool pool;
        ISuperToken token;
        PoolAdmin admin; // receives this pool's rounding remainder, and only this pool's
        bool limited; // a pipeline caps this stage's capacity
        uint32 cursor; // next sink a bounded `rebalance` looks at
        uint256 capacityLimit; // tasks/epoch, effective only when `limited`
        // The meter: money paid to members = integral of total units over the per-unit value.
        uint128 paidAtMark; // paid out up to the last unit change
        int128 perUnitAtMark; // the pool's per-unit value at the last unit change
    }

    /// @notice Most sinks one `rebalance` call re-weights (~220k gas each on the GDA): every call
    /// fits far below the 16,777,216 gas per-transaction cap, whatever the number of sinks.
    uint256 public constant REBALANCE_BATCH = 32;

    ICapacityRegistry public immutable registry;
    EscrowBuffer public immutable buffer;
    address public immutable pipeline;
    PricingCurve public immutable pricing;
    uint256 public immutable unitScale;
    uint256 public immutable epochSeconds;

    mapping(bytes32 => PoolInfo) private _pools;

    constructor(
        ISuperfluid host_,
        ICapacityRegistry registry_,
        EscrowBuffer buffer_,
        address pipeline_,
        PricingCurve pricing_,
        uint256 unitScale_,
        uint256 epochSeconds_
    ) SuperfluidBound(host_) {
        registry = registry_;
        buffer = buffer_;
        pipeline = pipeline_;
        pricing = pricing_;
        unitScale = unitScale_;
        epochSeconds = epochSeconds_;
    }

    modifier onlyRegistry() {
        if (msg.sender != address(registry)) revert NotRegistry(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- registry hooks

    /// @notice Creates the task type's GDA pool, administered by a PoolAdmin of its own; anyone
    /// may distribute. Refuses tokens of any other Superfluid host.
    function createPool(bytes32 taskTypeId, ISuperToken token) external onlyRegistry returns (ISuperfluidPool pool) {
        _requireOurToken(token);
        PoolAdmin admin = new PoolAdmin();
        pool = token.createPool(
            address(admin), PoolConfig({transferabilityForUnitsOwner: false, distributionFromAnyAddress: true})
        );
        PoolInfo storage info = _pools[taskTypeId];
        (info.pool, info.token, info.admin) = (pool, token, admin);
        emit PoolCreated(taskTypeId, address(pool), token);
    }

    /// @notice Gives one sink `weight * unitScale` units (the registry calls this only when the
    /// sink's weight left the deadband, or must drop at once), then re-sizes the overflow share.
    function setSinkUnits(bytes32 taskTypeId, address sink, uint256 weight) external onlyRegistry {
        PoolInfo storage info = _pools[taskTypeId];
        uint256 units = weight * unitScale;
        _setUnits(info, sink, units);
        emit SinkUnitsUpdated(taskTypeId, sink, units);
        _syncOverflow(taskTypeId, info);
    }

    // ---------------------------------------------------------------- permissionless upkeep

    /// @inheritdoc IBackpressurePool
    /// @dev Catch-up in bounded pieces: each call re-weights the next `REBALANCE_BATCH` sinks
    /// (from a cursor) whose units differ from their capacity at all (drift the deadband let
    /// through on single updates); the call that reaches the end of the list also re-sizes the
    /// overflow share, sweeps the remainder, emits `Rebalanced` and starts over. So no call
    /// exceeds the per-transaction gas cap, and no correctness property waits for a full pass:
    /// deregistered and slashed sinks were re-weighted in their own transaction, and any single
    /// sink can be brought back at once by the registry's `syncUnits`.
    function rebalance(bytes32 taskTypeId) external {
        PoolInfo storage info = _known(taskTypeId);
        uint256 start = info.cursor;
        (address[] memory sinks, uint256[] memory weights, uint256 total) =
            registry.takeWeights(taskTypeId, start, REBALANCE_BATCH);
        for (uint256 i; i < sinks.length; ++i) {
            uint256 units = weights[i] * unitScale;
            if (info.pool.getUnits(sinks[i]) == units) continue;
            _setUnits(info, sinks[i], units);
            emit SinkUnitsUpdated(taskTypeId, sinks[i], units);
        }
        uint256 next = start + sinks.length;
        if (next < total) {
            info.cursor = uint32(next);
            return;
        }
        info.cursor = 0;
        _syncOverflow(taskTypeId, info);
        _sweepRemainder(taskTypeId, info);
        emit Rebalanced(taskTypeId, total, registry.totalCapacity(taskTypeId));
    }

    /// @notice Re-sizes the overflow share after sources changed their streams, and sweeps the
    /// rounding remainder into the buffer. O(1).
    function updateOverflow(bytes32 taskTypeId) external {
        PoolInfo storage info = _known(taskTypeId);
        _syncOverflow(taskTypeId, info);
        _sweepRemainder(taskTypeId, info);
    }

    /// @notice Caps the capacity this stage may absorb; only the Pipeline, for its own stages.
    function setCapacityLimit(bytes32 taskTypeId, uint256 limit) external {
        if (msg.sender != pipeline) revert NotPipeline(msg.sender);
        PoolInfo storage info = _known(taskTypeId);
        info.limited = true;
        info.capacityLimit = limit;
        emit CapacityLimitSet(taskTypeId, limit);
        _syncOverflow(taskTypeId, info);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IBackpressurePool
    function needsRebalance(bytes32 taskTypeId) external view returns (bool) {
        PoolInfo storage info = _known(taskTypeId);
        uint256 threshold = registry.rebalanceThresholdBps();
        address[] memory sinks = registry.sinksOf(taskTypeId);
        for (uint256 i; i < sinks.length; ++i) {
            uint256 target = registry.weightOf(taskTypeId, sinks[i]) * unitScale;
            if (CapacityMath.outsideDeadband(info.pool.getUnits(sinks[i]), target, threshold)) return true;
        }
        return
            CapacityMath.outsideDeadband(
                info.pool.getUnits(address(buffer)), _overflowTarget(taskTypeId, info), threshold
            );
    }

    /// @inheritdoc IBackpressurePool
    function getPool(bytes32 taskTypeId) external view returns (address) {
        return address(_pools[taskTypeId].pool);
    }

    function poolInfo(bytes32 taskTypeId) external view returns (PoolInfo memory) {
        return _pools[taskTypeId];
    }

    /// @notice What all sources together pay into the pool now (wei/s): the distributed flow
    /// plus the GDA's rounding remainder.
    function inflowRate(bytes32 taskTypeId) public view returns (uint256) {
        PoolInfo storage info = _known(taskTypeId);
        int256 rate = int256(info.pool.getTotalFlowRate()) + info.token.getPoolAdjustmentFlowRate(info.pool);
        return rate > 0 ? uint256(rate) : 0;
    }

    /// @notice Everything the pool has paid its members (sinks and buffer) since it was created,
    /// drains from the buffer included: the integral of total units over the GDA's per-unit
    /// value, exact between unit changes because only this contract changes units. A stream
    /// open for one block adds one block of its rate, not an epoch's.
    function paidOut(bytes32 taskTypeId) public view returns (uint256) {
        PoolInfo storage info = _known(taskTypeId);
        return _paidOut(info, _perUnitValue(info.pool));
    }

    /// @notice Everything sources have paid for the task type: what the pool paid out (drains of
    /// the buffer aside, which were paid in before) plus direct deposits into the buffer. Rounding
    /// remainders (dust) are left out. The PricingCurve measures demand by its growth.
    function paidIn(bytes32 taskTypeId) external view returns (uint256) {
        EscrowBuffer.Ledger memory ledger = buffer.ledgerOf(taskTypeId);
        return paidOut(taskTypeId) + ledger.deposited - ledger.drained;
    }

    /// @notice What the sinks can absorb (wei/s): effective capacity * base fee / epoch.
    function absorbableRate(bytes32 taskTypeId) public view returns (uint256) {
        PoolInfo storage info = _known(taskTypeId);
        return _effectiveCapacity(taskTypeId, info) * pricing.baseFee(taskTypeId) / epochSeconds;
    }

    /// @notice The capacity the pool routes to (tasks/epoch): the registry's queue-adjusted total,
    /// capped by the downstream stage when the task type is part of a pipeline.
    function effectiveCapacity(bytes32 taskTypeId) external view returns (uint256) {
        return _effectiveCapacity(taskTypeId, _known(taskTypeId));
    }

    // ---------------------------------------------------------------- internals

    function _effectiveCapacity(bytes32 taskTypeId, PoolInfo storage info) internal view returns (uint256) {
        uint256 total = registry.totalWeight(taskTypeId);
        return info.limited && info.capacityLimit < total ? info.capacityLimit : total;
    }

    function _known(bytes32 taskTypeId) internal view returns (PoolInfo storage info) {
        info = _pools[taskTypeId];
        if (address(info.pool) == address(0)) revert UnknownTaskType(taskTypeId);
    }

    /// @dev Every unit change: first book what was paid at the old units, then change them.
    function _setUnits(PoolInfo storage info, address member, uint256 units) internal {
        int256 perUnit = _perUnitValue(info.pool);
        (info.paidAtMark, info.perUnitAtMark) = (_paidOut(info, perUnit).toUint128(), perUnit.toInt128());
        info.admin.updateMemberUnits(info.pool, member, units.toUint128());
    }

    function _paidOut(PoolInfo storage info, int256 perUnit) internal view returns (uint256) {
        uint256 grown = uint256(perUnit - info.perUnitAtMark) * info.pool.getTotalUnits();
        return info.paidAtMark + grown;
    }

    /// @dev Per-unit value the GDA has distributed at this second (settled value plus its flow).
    function _perUnitValue(ISuperfluidPool pool) internal view returns (int256) {
        IPoolIndex.PoolIndexData memory index = IPoolIndex(address(pool)).poolOperatorGetIndex();
        return index.wrappedSettledValue + int256(index.wrappedFlowRate)
            * int256(block.timestamp - uint256(index.wrappedSettledAt));
    }

    function _overflowTarget(bytes32 taskTypeId, PoolInfo storage info) internal view returns (uint256) {
        uint256 sinkUnits = info.pool.getTotalUnits() - info.pool.getUnits(address(buffer));
        return CapacityMath.overflowUnits(sinkUnits, inflowRate(taskTypeId), absorbableRate(taskTypeId));
    }

    /// @dev Sizes the buffer's units, then folds the GDA's rounding remainder back into the
    /// distribution once it is material (it grows by < total units with each unit change, and
    /// holds the whole inflow while the pool had no units). Folding costs a distributeFlow
    /// (~350k gas), so dust stays with the admin until the next sweep hands it to the buffer.
    function _syncOverflow(bytes32 taskTypeId, PoolInfo storage info) internal {
        ISuperfluidPool pool = info.pool;
        uint256 current = pool.getUnits(address(buffer));
        uint256 target = _overflowTarget(taskTypeId, info);
        if (CapacityMath.outsideDeadband(current, target, registry.rebalanceThresholdBps())) {
            _setUnits(info, address(buffer), target);
            emit OverflowUnitsUpdated(taskTypeId, target, inflowRate(taskTypeId), absorbableRate(taskTypeId));
        }
        int256 remainder = info.token.getPoolAdjustmentFlowRate(pool);
        if (remainder <= 0) return;
        uint256 distributed = uint256(int256(pool.getTotalFlowRate()));
        // forge-lint: disable-next-line(unsafe-typecast) remainder > 0 was checked above
        if (CapacityMath.remainderWorthFolding(uint256(remainder), pool.getTotalUnits(), distributed)) {
            info.token.distributeFlow(address(this), pool, 0);
        }
    }

    /// @dev Everything the task type's own PoolAdmin holds is its pool's remainder: pass it to the
    /// buffer, credited to that task type.
    function _sweepRemainder(bytes32 taskTypeId, PoolInfo storage info) internal {
        uint256 amount = info.admin.sweep(IERC20(address(info.token)), address(buffer));
        if (amount == 0) return;
        buffer.creditRemainder(taskTypeId, amount);
        emit RemainderSwept(taskTypeId, amount);
    }
}

/// @dev The GDA pool's own index view (SuperfluidPool.poolOperatorGetIndex), declared here so the
/// pool's implementation need not be compiled in.
interface IPoolIndex {
    struct PoolIndexData {
        uint128 totalUnits;
        uint32 wrappedSettledAt;
        int96 wrappedFlowRate;
        int256 wrappedSettledValue;
    }

    function poolOperatorGetIndex() external view returns (PoolIndexData memory);
}
