// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {Pipeline} from "../src/Pipeline.sol";
import {BackpressurePool} from "../src/BackpressurePool.sol";

/// @notice Pipeline: chaining rules, C_eff = min(C(i), C_eff(i+1)) back to front, and the limit
/// applied on the real GDA so a congested downstream stage throttles the upstream one.
contract PipelineTest is BPETest {
    bytes32 internal s1;
    bytes32 internal s2;
    bytes32 internal s3;
    address internal a1;
    address internal b1;
    address internal c1;
    address internal d2;
    address internal e3;
    bytes32 internal constant BOGUS = keccak256("bogus");

    function setUp() public override {
        super.setUp();
        s1 = _taskType("extract", 1_000e18);
        s2 = _taskType("summarise", 1_000e18);
        s3 = _taskType("translate", 1_000e18);
        a1 = _sink("a1", s1, 400e18);
        b1 = _sink("b1", s1, 900e18);
        c1 = _sink("c1", s1, 1600e18);
        d2 = _sink("d2", s2, 3600e18); // cap 3,600 units: 180 tasks
        e3 = _sink("e3", s3, 3600e18);
        _declareUntilSettled(a1, s1, 10);
        _declareUntilSettled(b1, s1, 20);
        _declareUntilSettled(c1, s1, 30);
        _declareUntilSettled(d2, s2, 50);
        _declareUntilSettled(e3, s3, 40);
    }

    function _stages3() internal view returns (bytes32[] memory stages) {
        stages = new bytes32[](3);
        stages[0] = s1;
        stages[1] = s2;
        stages[2] = s3;
    }

    function _pair(bytes32 x, bytes32 y) internal pure returns (bytes32[] memory stages) {
        stages = new bytes32[](2);
        stages[0] = x;
        stages[1] = y;
    }

    function _create(bytes32[] memory stages) internal returns (uint256 pid) {
        vm.prank(creator);
        pid = pipeline.createPipeline(stages);
    }

    // ---------------------------------------------------------------- deployment

    function test_constructor_parameters() public view {
        assertEq(address(pipeline.registry()), address(registry));
        assertEq(address(pipeline.backpressurePool()), address(bpPool));
        assertEq(pipeline.MAX_STAGES(), 16);
        assertEq(pipeline.pipelineCount(), 0);
    }

    // ---------------------------------------------------------------- createPipeline

    function test_createPipeline_chainsAndAppliesLimits() public {
        bytes32[] memory stages = _stages3();
        uint256[] memory effective = new uint256[](3);
        effective[0] = 40; // min(60, 50, 40)
        effective[1] = 40; // min(50, 40)
        effective[2] = 40;
        vm.expectEmit(true, true, false, true, address(pipeline));
        emit Pipeline.PipelineCreated(1, creator, stages);
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.CapacityLimitSet(s2, 40);
        vm.expectEmit(true, false, false, true, address(bpPool));
        emit BackpressurePool.CapacityLimitSet(s1, 40);
        vm.expectEmit(true, false, false, true, address(pipeline));
        emit Pipeline.PipelineRebalanced(1, effective);
        uint256 pid = _create(stages);

        assertEq(pid, 1);
        assertEq(pipeline.pipelineCount(), 1);
        assertEq(pipeline.pipelineOf(s1), 1);
        assertEq(pipeline.pipelineOf(s2), 1);
        assertEq(pipeline.pipelineOf(s3), 1);
        bytes32[] memory stored = pipeline.stagesOf(1);
        assertEq(stored.length, 3);
        assertEq(stored[0], s1);
        assertEq(stored[2], s3);
        assertEq(bpPool.effectiveCapacity(s1), 40);
        assertEq(bpPool.effectiveCapacity(s2), 40);
        assertEq(bpPool.effectiveCapacity(s3), 40, "own capacity");
        assertFalse(bpPool.poolInfo(s3).limited, "the last stage is limited by nothing downstream");
        assertTrue(bpPool.poolInfo(s1).limited);
    }

    function test_createPipeline_revertsWithFewerThanTwoStages() public {
        vm.prank(creator);
        vm.expectRevert(Pipeline.TooFewStages.selector);
        pipeline.createPipeline(new bytes32[](0));
        bytes32[] memory one = new bytes32[](1);
        one[0] = s1;
        vm.prank(creator);
        vm.expectRevert(Pipeline.TooFewStages.selector);
        pipeline.createPipeline(one);
        assertEq(pipeline.pipelineCount(), 0);
    }

    function test_createPipeline_revertsWithTooManyStages() public {
        bytes32[] memory stages = new bytes32[](17);
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.TooManyStages.selector, 16));
        pipeline.createPipeline(stages);
        assertEq(pipeline.pipelineCount(), 0);
    }

    function test_createPipeline_revertsOnUnknownStage() public {
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.UnknownTaskType.selector, BOGUS));
        pipeline.createPipeline(_pair(s1, BOGUS));
        assertEq(pipeline.pipelineOf(s1), 0, "rolled back");
    }

    function test_createPipeline_revertsForStrangers() public {
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.NotStageCreator.selector, s1, creator));
        pipeline.createPipeline(_pair(s1, s2));
        assertFalse(bpPool.poolInfo(s1).limited, "nobody throttled");
    }

    function test_createPipeline_revertsWhenStageTaken() public {
        _create(_pair(s1, s2));
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.StageInPipeline.selector, s2, 1));
        pipeline.createPipeline(_pair(s2, s3));
        assertEq(pipeline.pipelineCount(), 1);
        assertEq(pipeline.pipelineOf(s3), 0);
    }

    function test_createPipeline_revertsOnRepeatedStage() public {
        vm.prank(creator);
        vm.expectRevert(abi.encodeWithSelector(Pipeline.StageInPipeline.selector, s1, 1));
        pipeline.createPipeline(_pair(s1, s1));
        assertEq(pipeline.pipelineCount(), 0, "rolled back");
        assertEq(pipeline.pipelineOf(s1), 0);
    }

    // ---------------------------------------------------------------- effective capacities

    function test_effectiveCapacities_backToFront() public {
        uint256 pid = _create(_stages3());
        uint256[] memory e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 40);
        assertEq(e[1], 40);
        assertEq(e[2], 40);
        // a narrow middle stage limits everything upstream, not downstream
        _declareUntilSettled(d2, s2, 20);
        e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 20);
        assertEq(e[1], 20);
        assertEq(e[2], 40);
        // a narrow first stage limits only itself
        _declareUntilSettled(a1, s1, 0);
        _declareUntilSettled(b1, s1, 0);
        _declareUntilSettled(c1, s1, 5);
        e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 5);
        assertEq(e[1], 20);
    }

    function test_effectiveCapacities_revertsOnUnknownPipeline() public {
        vm.expectRevert(abi.encodeWithSelector(Pipeline.UnknownPipeline.selector, 7));
        pipeline.effectiveCapacities(7);
    }

    function test_rebalance_revertsOnUnknownPipeline() public {
        vm.expectRevert(abi.encodeWithSelector(Pipeline.UnknownPipeline.selector, 0));
        pipeline.rebalance(0);
    }

    function test_rebalance_permissionlessAndFollowsCapacities() public {
        uint256 pid = _create(_stages3());
        _declareUntilSettled(d2, s2, 20);
        assertEq(bpPool.effectiveCapacity(s1), 40, "stale until rebalanced");
        vm.prank(makeAddr("keeper"));
        pipeline.rebalance(pid);
        assertEq(bpPool.effectiveCapacity(s1), 20);
        assertEq(bpPool.effectiveCapacity(s2), 20);
        // capacity returns downstream: the limit lifts again
        _declareUntilSettled(d2, s2, 60);
        pipeline.rebalance(pid);
        assertEq(bpPool.effectiveCapacity(s1), 40);
        assertEq(bpPool.poolInfo(s1).capacityLimit, 40);
    }

    /// @notice Stages are compared by their queue-adjusted totals: a backlog downstream is
    /// congestion too, even when its declared capacity is unchanged.
    function test_effectiveCapacities_countDownstreamBacklogs() public {
        uint256 pid = _create(_pair(s1, s2)); // 60 -> 50
        assertEq(bpPool.effectiveCapacity(s1), 50);
        vm.prank(d2);
        registry.reportBacklog(s2, 75); // 2,500 / 125 = 20
        assertEq(registry.totalCapacity(s2), 50, "declared capacity unchanged");
        assertEq(registry.totalWeight(s2), 20);
        uint256[] memory e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 20, "the downstream queue throttles the upstream stage");
        assertEq(e[1], 20, "and the stage itself routes by its weight");
        pipeline.rebalance(pid);
        assertEq(bpPool.effectiveCapacity(s1), 20);
        assertEq(bpPool.absorbableRate(s1), _rateOf(20));
        // an upstream backlog lowers only the upstream weight
        vm.prank(c1);
        registry.reportBacklog(s1, 270); // 900 / 300 = 3: s1 weighs 10 + 20 + 3 = 33
        e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 20, "still the downstream's 20");
        // the downstream queue clears: the limit lifts to the upstream's own weight
        vm.prank(d2);
        registry.reportBacklog(s2, 0);
        pipeline.rebalance(pid);
        e = pipeline.effectiveCapacities(pid);
        assertEq(e[0], 33);
        assertEq(e[1], 50);
        assertEq(bpPool.effectiveCapacity(s1), 33, "the upstream's own weight binds again");
    }

    // ---------------------------------------------------------------- end to end on the GDA

    /// @notice Downstream congests -> after rebalance the upstream stage routes C_eff * price /
    /// epoch to its sinks and the rest into its own buffer; capacity returns -> back to normal.
    function test_downstreamCongestionThrottlesUpstream() public {
        uint256 pid = _create(_pair(s1, s2)); // C = 60 -> 50: C_eff(s1) = 50
        address src = _source("src", 1_000_000e18);
        _stream(src, s1, _rate(60));
        bpPool.updateOverflow(s1);
        uint256 inflow = bpPool.inflowRate(s1);
        assertLe(_sinksRate(s1), _rateOf(50), "already limited by the downstream 50");
        assertApproxEqRel(_sinksRate(s1), _rateOf(50), 1e12);

        // the downstream stage congests: its only sink falls to 10 tasks/epoch
        _declareUntilSettled(d2, s2, 10);
        pipeline.rebalance(pid);
        uint256 limited = _rateOf(10);
        assertEq(bpPool.absorbableRate(s1), limited);
        assertLe(_sinksRate(s1), limited, "upstream sinks: at most C_eff * price / epoch");
        assertApproxEqRel(_sinksRate(s1), limited, 1e12);
        assertApproxEqAbs(
            _memberRate(s1, address(buffer)), inflow - limited, _pool(s1).getTotalUnits(), "the rest buffered"
        );
        // still split 1 : 2 : 3 among the upstream sinks
        assertEq(_memberRate(s1, b1), 2 * _memberRate(s1, a1));
        assertEq(_memberRate(s1, c1), 3 * _memberRate(s1, a1));

        // over time: the upstream buffer fills at the excess rate
        uint256 levelBefore = buffer.bufferLevel(s1);
        uint256 sinksBefore = _received(s1, a1) + _received(s1, b1) + _received(s1, c1);
        vm.warp(block.timestamp + 1_000);
        uint256 toSinks = _received(s1, a1) + _received(s1, b1) + _received(s1, c1) - sinksBefore;
        assertLe(toSinks, limited * 1_000);
        assertApproxEqRel(buffer.bufferLevel(s1) - levelBefore, (inflow - limited) * 1_000, 1e12);

        // downstream recovers: the limit lifts and the upstream sinks get their full share again
        _declareUntilSettled(d2, s2, 60);
        pipeline.rebalance(pid);
        assertEq(bpPool.effectiveCapacity(s1), 60);
        assertEq(_units(s1, address(buffer)), 0, "no more overflow");
        assertEq(_sinksRate(s1) + _adjustmentRate(s1), inflow, "everything to the sinks (but the GDA remainder)");
        uint256 remainder = _adjustmentRate(s1);
        assertTrue(
            remainder < _pool(s1).getTotalUnits() || remainder * 10_000 <= 10 * inflow,
            "remainder below one unit's worth or within the 0.1 % tolerance"
        );
    }
}
