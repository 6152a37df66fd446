// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {PricingHandler} from "./PricingHandler.sol";

/// @notice Base fee invariants under random time, demand, attestations and backlog reports: the
/// fee stays within [floor, ceiling], every advance follows the step-by-step model (at most
/// MAX_CATCHUP steps of at most maxStep), nothing that must not revert does, and the pool always
/// prices capacity at the current fee.
contract PricingInvariantTest is BPETest {
    PricingHandler internal handler;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        id = _taskType("priced", 1_000e18);
        handler = new PricingHandler(this.deployment(), id);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = PricingHandler.warp.selector;
        selectors[1] = PricingHandler.skipEpochs.selector;
        selectors[2] = PricingHandler.stream.selector;
        selectors[3] = PricingHandler.attest.selector;
        selectors[4] = PricingHandler.attest.selector;
        selectors[5] = PricingHandler.reportBacklog.selector;
        selectors[6] = PricingHandler.advance.selector;
        selectors[7] = PricingHandler.advance.selector;
        selectors[8] = PricingHandler.advance.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.depth = 40
    function invariant_baseFeeBoundedAndFollowed() public {
        vm.warp(handler.currentTime());
        uint256 fee = pricing.baseFee(id);
        assertGe(fee, handler.floorFee(), "fee >= floor");
        assertLe(fee, handler.ceilingFee(), "fee <= ceiling");
        assertLe(pricing.feeState(id).epoch, block.timestamp / EPOCH, "the clock never runs ahead");
        assertEq(bpPool.absorbableRate(id), registry.totalWeight(id) * fee / EPOCH, "pool prices at the fee");
        assertEq(handler.violations(), 0, handler.lastViolation());
    }

    /// @notice Each run really priced something: advances happened, and some were refused.
    function afterInvariant() public view {
        assertGt(handler.advances(), 0, "no advance in this run");
    }
}
