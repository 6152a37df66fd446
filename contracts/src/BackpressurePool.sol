// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ISuperfluidPool} from
    "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {PoolConfig} from
    "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/IGeneralDistributionAgreementV1.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
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
/// @dev This contract is every pool's admin, so the GDA sends it rounding remainders (the
/// adjustment flow); `rebalance` and `updateOverflow` sweep them into the buffer.
contract BackpressurePool is IBackpressureHooks {
    using SuperTokenV1Library for ISuperToken;
    using SafeCast for uint256;
    using SafeERC20 for IERC20;

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
        bool limited; // a pipeline caps this stage's capacity
        uint256 capacityLimit; // tasks/epoch, effective only when `limited`
    }

    ICapacityRegistry public immutable registry;
    EscrowBuffer public immutable buffer;
    address public immutable pipeline;
    PricingCurve public immutable pricing;
    uint256 public immutable unitScale;
    uint256 public immutable epochSeconds;

    mapping(bytes32 => PoolInfo) private _pools;

    constructor(
        ICapacityRegistry registry_,
        EscrowBuffer buffer_,
        address pipeline_,
        PricingCurve pricing_,
        uint256 unitScale_,
        uint256 epochSeconds_
    ) {
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

    /// @notice Creates the task type's GDA pool with this contract as admin; anyone may distribute.
    function createPool(bytes32 taskTypeId, ISuperToken token) external onlyRegistry returns (ISuperfluidPool pool) {
        pool = token.createPool(
            address(this), PoolConfig({transferabilityForUnitsOwner: false, distributionFromAnyAddress: true})
        );
        _pools[taskTypeId] = PoolInfo({pool: pool, token: token, limited: false, capacityLimit: 0});
        emit PoolCreated(taskTypeId, address(pool), token);
    }

    /// @notice Gives one sink `weight * unitScale` units (the registry calls this only when the
    /// sink's weight left the deadband, or must drop at once), then re-sizes the overflow share.
    function setSinkUnits(bytes32 taskTypeId, address sink, uint256 weight) external onlyRegistry {
        PoolInfo storage info = _pools[taskTypeId];
        uint256 units = weight * unitScale;
        info.pool.updateMemberUnits(sink, units.toUint128());
        emit SinkUnitsUpdated(taskTypeId, sink, units);
        _syncOverflow(taskTypeId, info);
    }

    // ---------------------------------------------------------------- permissionless upkeep

    /// @inheritdoc IBackpressurePool
    /// @dev Full catch-up: every sink whose units differ from its capacity at all (drift the
    /// deadband let through on single updates), the overflow share, the remainder sweep.
    /// O(sinks) reads, one GDA call per stale sink. The deadband decides when a rebalance is
    /// worth paying for (`needsRebalance`); once paid for, it leaves nothing stale. Deregistered
    /// and slashed sinks never wait for this: they were re-weighted in their own transaction.
    function rebalance(bytes32 taskTypeId) external {
        PoolInfo storage info = _known(taskTypeId);
        (address[] memory sinks, uint256[] memory weights) = registry.takeWeights(taskTypeId);
        for (uint256 i; i < sinks.length; ++i) {
            uint256 units = weights[i] * unitScale;
            if (info.pool.getUnits(sinks[i]) == units) continue;
            info.pool.updateMemberUnits(sinks[i], units.toUint128());
            emit SinkUnitsUpdated(taskTypeId, sinks[i], units);
        }
        _syncOverflow(taskTypeId, info);
        _sweepRemainder(taskTypeId, info.token);
        emit Rebalanced(taskTypeId, sinks.length, registry.totalCapacity(taskTypeId));
    }

    /// @notice Re-sizes the overflow share after sources changed their streams, and sweeps the
    /// rounding remainder into the buffer. O(1).
    function updateOverflow(bytes32 taskTypeId) external {
        PoolInfo storage info = _known(taskTypeId);
        _syncOverflow(taskTypeId, info);
        _sweepRemainder(taskTypeId, info.token);
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
        return CapacityMath.outsideDeadband(
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
            pool.updateMemberUnits(address(buffer), target.toUint128());
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

    /// @dev Everything this contract holds of the token is GDA remainder: pass it to the buffer,
    /// credited to the task type being serviced.
    function _sweepRemainder(bytes32 taskTypeId, ISuperToken token) internal {
        uint256 amount = token.balanceOf(address(this));
        if (amount == 0) return;
        IERC20(address(token)).safeTransfer(address(buffer), amount);
        buffer.creditRemainder(taskTypeId, amount);
        emit RemainderSwept(taskTypeId, amount);
    }
}
