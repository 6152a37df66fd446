// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";
import {CapacityMath} from "./libraries/CapacityMath.sol";

/// @title PricingCurve: a per-task-type base fee that follows demand, plus a per-sink queue premium.
/// @notice Price per task of a sink = base fee * (1 + gamma * backlog / capacity), the backlog being
/// the sink's own report (nobody else can move it). The base fee starts at the task type's
/// creation price and moves once per epoch, EIP-1559-style, toward a target utilisation
/// (demanded tasks / capacity), by at most `maxStepBps` per epoch, within [floor, ceiling] set as
/// fractions of the creation price. The BackpressurePool prices absorbable payment rates with it,
/// the CompletionTracker turns payments into tasks with it.
/// @dev Permissionless `advanceEpoch`. Utilisation is measured over the whole time since the last
/// update, never read at the call: demand is the money sources actually paid in meanwhile (the
/// BackpressurePool's `paidIn`), capacity the time integral of the total weight (the registry's
/// `weightSecondsOf`). A stream opened and closed around the call, or a backlog flipped around
/// it, lasts zero seconds and weighs nothing. Skipped epochs are replayed one step each (up to
/// MAX_CATCHUP) at that average, re-measuring utilisation at the new fee each step.
contract PricingCurve {
    event BaseFeeUpdated(bytes32 indexed taskTypeId, uint256 epoch, uint256 baseFee, uint256 utilizationBps);

    error UnknownTaskType(bytes32 taskTypeId);
    error EpochNotOver(uint256 epoch);
    error InvalidParameters();

    /// @notice Steps replayed at most for skipped epochs: 32 steps of 12.5 % span 43x, beyond
    /// any floor-to-ceiling range worth configuring.
    uint256 public constant MAX_CATCHUP = 32;

    /// @notice Largest ceiling (2^32 x the creation price). Creation prices fit 96 bits, so every
    /// fee up to the ceiling fits the 128-bit slot it is stored in; a wider ceiling would let a
    /// fee be truncated on storage (or overflow computing the ceiling) and corrupt the price.
    uint256 public constant MAX_CEILING_BPS = CapacityMath.BPS << 32;

    struct Fee {
        uint128 baseFee; // 0 until the first advance: the creation price applies
        uint64 epoch; // epoch of the last update
        uint64 measuredAt; // timestamp of the readings below (0: clock not started)
        uint160 paidIn; // the pool's paidIn at measuredAt
        uint96 weightSeconds; // the registry's weightSecondsOf at measuredAt
    }

    ICapacityRegistry public immutable registry;
    IBackpressureHooks public immutable backpressurePool;
    uint256 public immutable epochSeconds;
    uint256 public immutable targetUtilizationBps;
    uint256 public immutable maxStepBps;
    uint256 public immutable floorBps; // floor = creation price * floorBps / 10,000
    uint256 public immutable ceilingBps; // ceiling = creation price * ceilingBps / 10,000

    mapping(bytes32 => Fee) private _fees;

    constructor(
        ICapacityRegistry registry_,
        IBackpressureHooks backpressurePool_,
        uint256 epochSeconds_,
        uint256 targetUtilizationBps_,
        uint256 maxStepBps_,
        uint256 floorBps_,
        uint256 ceilingBps_
    ) {
        if (
            epochSeconds_ == 0 || targetUtilizationBps_ == 0 || maxStepBps_ == 0 || maxStepBps_ >= CapacityMath.BPS
                || floorBps_ == 0 || floorBps_ > CapacityMath.BPS || ceilingBps_ < CapacityMath.BPS
                || ceilingBps_ > MAX_CEILING_BPS
        ) revert InvalidParameters();
        registry = registry_;
        backpressurePool = backpressurePool_;
        epochSeconds = epochSeconds_;
        targetUtilizationBps = targetUtilizationBps_;
        maxStepBps = maxStepBps_;
        floorBps = floorBps_;
        ceilingBps = ceilingBps_;
    }

    /// @notice Moves the base fee one step per epoch passed since the last update (anyone may).
    /// The first call only starts the clock: there is no measured epoch to judge yet.
    function advanceEpoch(bytes32 taskTypeId) external returns (uint256 fee) {
        uint256 creationPrice = _creationPrice(taskTypeId);
        Fee memory f = _fees[taskTypeId];
        uint256 epoch = block.timestamp / epochSeconds;
        fee = f.baseFee == 0 ? creationPrice : f.baseFee;
        uint256 paid = backpressurePool.paidIn(taskTypeId);
        uint96 weightSeconds = registry.weightSecondsOf(taskTypeId);
        uint256 utilization;
        if (f.measuredAt != 0) {
            uint256 steps = epoch - f.epoch;
            if (steps == 0) revert EpochNotOver(epoch);
            steps = Math.min(steps, MAX_CATCHUP);
            // Both sides integrate over the same seconds, so their ratio is the average rate's.
            uint256 demand = paid - f.paidIn;
            uint256 capacity;
            unchecked {
                capacity = weightSeconds - f.weightSeconds; // wrapping integral: the difference counts
            }
            uint256 floor = Math.max(1, Math.mulDiv(creationPrice, floorBps, CapacityMath.BPS));
            uint256 ceiling = Math.mulDiv(creationPrice, ceilingBps, CapacityMath.BPS);
            for (uint256 i; i < steps; ++i) {
                utilization = utilizationBps(demand, capacity, fee);
                fee = CapacityMath.baseFeeStep(fee, utilization, targetUtilizationBps, maxStepBps, floor, ceiling);
            }
        }
        _fees[taskTypeId] = Fee({
            baseFee: uint128(fee),
            epoch: uint64(epoch),
            measuredAt: uint64(block.timestamp),
            paidIn: SafeCast.toUint160(paid),
            weightSeconds: weightSeconds
        });
        emit BaseFeeUpdated(taskTypeId, epoch, fee, utilization);
        // What the sinks can absorb just changed: re-size the overflow share.
        backpressurePool.updateOverflow(taskTypeId);
    }

    /// @notice The task type's base fee (token wei per task).
    function baseFee(bytes32 taskTypeId) public view returns (uint256) {
        uint256 stored = _fees[taskTypeId].baseFee;
        return stored == 0 ? _creationPrice(taskTypeId) : stored;
    }

    /// @notice One sink's price per task: base fee times its queue premium.
    function priceOf(bytes32 taskTypeId, address sink) external view returns (uint256) {
        (uint256 capacity, uint256 backlog) = registry.signalOf(taskTypeId, sink);
        uint256 multiplier = CapacityMath.premiumMultiplierBps(capacity, backlog, registry.queuePremiumBps());
        return Math.mulDiv(baseFee(taskTypeId), multiplier, CapacityMath.BPS);
    }

    function feeState(bytes32 taskTypeId) external view returns (Fee memory) {
        return _fees[taskTypeId];
    }

    /// @notice Demanded tasks per epoch over capacity, in bps: (inflow / fee * epoch) / capacity.
    /// Rates or their integrals over one same interval (money paid, weight-seconds) both work.
    function utilizationBps(uint256 inflow, uint256 capacity, uint256 fee) public view returns (uint256) {
        if (capacity == 0) return inflow == 0 ? 0 : type(uint128).max;
        return Math.mulDiv(inflow * epochSeconds, CapacityMath.BPS, fee * capacity);
    }

    function _creationPrice(bytes32 taskTypeId) internal view returns (uint256 price) {
        price = registry.pricePerTask(taskTypeId);
        if (price == 0) revert UnknownTaskType(taskTypeId);
    }
}
