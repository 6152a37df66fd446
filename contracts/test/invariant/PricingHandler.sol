// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Handler} from "./Handler.sol";
import {DemandMeter} from "../utils/DemandMeter.sol";
import {PricingCurve} from "../../src/PricingCurve.sol";
import {OffchainAggregator} from "../../src/OffchainAggregator.sol";
import {CapacityMath} from "../../src/libraries/CapacityMath.sol";

/// @notice Drives one task type's price: time passes (within an epoch or over many), the source
/// changes its stream, sinks attest capacity and backlog or report backlogs directly, and anyone
/// advances the base fee. The handler meters, on its own, what the curve measures: the money the
/// pool paid its members (its total distribution flow, integrated over time) and the total weight
/// integrated over time, both sampled around every call. Every advance is checked against a
/// step-by-step model on the utilisation averaged since the previous advance (the first advance
/// only starts the clock); anything that reverts where it must not (an advance in a new epoch, a
/// backlog report, a batch) is a violation, and so is a paidIn or weight-seconds reading that
/// disagrees with the meter.
contract PricingHandler is Handler, DemandMeter {
    uint256 internal constant BPS = 10_000;

    bytes32 public id;
    address[3] public sinks;
    uint256[3] internal keys;
    uint256[3] internal nonces;
    address public src;
    int96 public flow;
    uint256 public floorFee;
    uint256 public ceilingFee;

    uint256 public advances;
    uint256 public refusals;
    uint256 public lastAdvanceEpoch;
    uint256 public upMoves;
    uint256 public downMoves;

    // the independent meter (see the contract's notes)
    uint256 internal paid0; // bpPool.paidIn when the meter started
    uint96 internal weightSeconds0; // registry.weightSecondsOf when the meter started
    // the meter's readings at the last successful advance
    uint256 internal paidAtAdvance;
    uint256 internal weightSecondsAtAdvance;

    constructor(Deployment memory d, bytes32 id_) {
        _adopt(d);
        id = id_;
        uint256 price = registry.pricePerTask(id);
        floorFee = Math.max(1, price * pricing.floorBps() / BPS);
        ceilingFee = price * pricing.ceilingBps() / BPS;
        uint96[3] memory stakes = [uint96(100e18), 400e18, 2_500e18]; // caps 5, 20, 125 tasks/epoch
        for (uint256 i; i < 3; ++i) {
            (sinks[i], keys[i]) = _keyedSink(string.concat("pricing-sink-", vm.toString(i)), id, stakes[i]);
        }
        src = _source("pricing-src", 1e30);
        _startClock();
        paid0 = bpPool.paidIn(id);
        weightSeconds0 = registry.weightSecondsOf(id);
        _meter(id);
    }

    /// @dev Samples the meter before and after every call.
    modifier metered() {
        _meter(id);
        _;
        _meter(id);
    }

    function warp(uint256 secs) external clock("warp") metered {
        vm.warp(block.timestamp + bound(secs, 1, 2 * EPOCH));
        vm.roll(block.number + 1);
    }

    function skipEpochs(uint256 n) external clock("skipEpochs") metered {
        vm.warp(block.timestamp + bound(n, 1, 80) * EPOCH);
        vm.roll(block.number + 1);
    }

    /// @notice The source re-sizes its stream (0 to ~3x the largest capacity) and, like the SDK,
    /// pokes the overflow share.
    function stream(uint256 tasks, uint256 noise) external clock("stream") metered {
        int96 rate = int96(int256(bound(tasks, 0, 250) * PRICE / EPOCH + noise % 1e9));
        if (rate == flow || (flow == 0 && rate == 0)) return;
        _stream(src, id, rate);
        flow = rate;
        bpPool.updateOverflow(id);
    }

    /// @notice A sink's signed attestation relayed alone; the batch must never revert.
    function attest(uint256 who, uint256 capacity, uint256 backlog) external clock("attest") metered {
        uint256 i = who % 3;
        Attestation[] memory items = new Attestation[](1);
        items[0] = _attestation(
            keys[i], id, sinks[i], bound(capacity, 0, 60), bound(backlog, 0, 300), ++nonces[i], block.timestamp
        );
        try aggregator.submitAttestations(_pack(items)) {}
        catch {
            _violation("attestation batch reverted");
        }
    }

    /// @notice A direct backlog report, including right after an advance: never reverts.
    function reportBacklog(uint256 who, uint256 backlog) external clock("reportBacklog") metered {
        address sink = sinks[who % 3];
        vm.prank(sink);
        try registry.reportBacklog(id, bound(backlog, 0, 5_000)) {}
        catch {
            _violation("reportBacklog reverted");
        }
    }

    /// @notice Anyone advances the base fee; it must equal the model, or refuse exactly with
    /// EpochNotOver inside the epoch of the last advance.
    function advance() external clock("advance") metered {
        PricingCurve.Fee memory state = pricing.feeState(id);
        uint256 fee = pricing.baseFee(id);
        uint256 epoch = block.timestamp / EPOCH;
        // the readings the curve takes must be what the handler metered
        if (bpPool.paidIn(id) - paid0 != meteredPaid) _violation("paidIn differs from what the pool paid");
        uint256 weightSeconds;
        unchecked {
            weightSeconds = uint96(registry.weightSecondsOf(id) - weightSeconds0);
        }
        if (weightSeconds != meteredWeightSeconds) _violation("weightSecondsOf differs from the weight integral");
        bool started = state.measuredAt != 0;
        // the first advance only starts the clock: no step, whatever the demand
        uint256 steps = started ? epoch - state.epoch : 0;
        uint256 paid = meteredPaid - paidAtAdvance;
        uint256 capacity = meteredWeightSeconds - weightSecondsAtAdvance;
        uint256 expected = _model(fee, Math.min(steps, 32), paid, capacity);
        uint256 u = pricing.utilizationBps(paid, capacity, fee);
        uint256 target = pricing.targetUtilizationBps();
        try pricing.advanceEpoch(id) returns (uint256 got) {
            ++advances;
            lastAdvanceEpoch = epoch;
            (paidAtAdvance, weightSecondsAtAdvance) = (meteredPaid, meteredWeightSeconds);
            if (started && steps == 0) _violation("advanced twice in one epoch");
            if (!started && got != registry.pricePerTask(id)) _violation("the first advance moved the fee");
            if (got != expected) _violation("advance differs from the model");
            if (pricing.baseFee(id) != got) _violation("stored fee differs from the returned one");
            if (pricing.feeState(id).measuredAt != block.timestamp) _violation("readings not taken now");
            _checkStepBound(fee, got, Math.min(steps, 32));
            if (started) {
                // never frozen: off target, the fee moves unless it sits at the bound it moves toward
                if (u > target && fee < ceilingFee && got <= fee) _violation("frozen above the target");
                if (u < target && fee > floorFee && got >= fee) _violation("frozen below the target");
                if (u > target) ++upMoves;
                if (u < target) ++downMoves;
            }
            _checkOverflowShare();
        } catch (bytes memory err) {
            ++refusals;
            if (!started || steps != 0) _violation("advance reverted in a new epoch");
            if (keccak256(err) != keccak256(abi.encodeWithSelector(PricingCurve.EpochNotOver.selector, epoch))) {
                _violation("refused with the wrong error");
            }
        }
    }

    /// @dev k steps move the fee by at most (1 +- maxStep)^k, plus a wei of rounding per step.
    function _checkStepBound(uint256 before, uint256 got, uint256 k) internal {
        uint256 hi = before;
        uint256 lo = before;
        uint256 step = pricing.maxStepBps();
        for (uint256 i; i < k; ++i) {
            hi = Math.mulDiv(hi, BPS + step, BPS) + 1;
            lo = Math.mulDiv(lo, BPS - step, BPS);
        }
        if (got > Math.max(hi, floorFee) || got < Math.min(lo, ceilingFee)) {
            if (!(got == floorFee || got == ceilingFee)) _violation("moved more than maxStep per epoch");
        }
    }

    /// @dev Right after an advance the buffer's units sit within the deadband of the overflow the
    /// new price implies.
    function _checkOverflowShare() internal {
        uint256 bufferUnits = _units(id, address(buffer));
        uint256 sinkUnits = _pool(id).getTotalUnits() - bufferUnits;
        uint256 target = CapacityMath.overflowUnits(sinkUnits, bpPool.inflowRate(id), bpPool.absorbableRate(id));
        if (CapacityMath.outsideDeadband(bufferUnits, target, REBALANCE_THRESHOLD_BPS)) {
            _violation("overflow share not re-sized to the new price");
        }
    }

    /// @dev u = paid * epoch / fee / weight-seconds (bps) over the interval since the last
    /// advance, then one step per epoch, re-measured at each new fee.
    function _model(uint256 fee, uint256 steps, uint256 paid, uint256 weightSeconds) internal view returns (uint256) {
        for (uint256 i; i < steps; ++i) {
            uint256 u = weightSeconds == 0
                ? (paid == 0 ? 0 : type(uint128).max)
                : Math.mulDiv(paid * EPOCH, BPS, fee * weightSeconds);
            fee = CapacityMath.baseFeeStep(
                fee, u, pricing.targetUtilizationBps(), pricing.maxStepBps(), floorFee, ceilingFee
            );
        }
        return fee;
    }
}
