// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "./interfaces/IBackpressureHooks.sol";

/// @title Pipeline: chains task types so that downstream congestion propagates upstream.
/// @notice A GDA pool cannot be a member of a pool, so each stage's sinks are relay agents that
/// pay the next stage. Stage i may absorb only what the rest of the chain can: its effective
/// capacity is C_eff(i) = min(C(i), C_eff(i+1)), computed back to front and applied as the
/// stage's capacity limit in the BackpressurePool; what an upstream stage receives beyond it
/// goes to that stage's own buffer. Capacities are the stages' queue-adjusted totals (a backlog
/// downstream counts as congestion), compared task for task (one task at stage i feeds one task
/// at stage i+1).
/// @dev Only the creator of every stage may chain them (nobody can throttle someone else's task
/// type), and a task type belongs to at most one pipeline. `rebalance` is permissionless.
contract Pipeline {
    event PipelineCreated(uint256 indexed pipelineId, address indexed creator, bytes32[] stages);
    event PipelineRebalanced(uint256 indexed pipelineId, uint256[] effectiveCapacities);

    error TooFewStages();
    error TooManyStages(uint256 max);
    error UnknownTaskType(bytes32 taskTypeId);
    error NotStageCreator(bytes32 taskTypeId, address creator);
    error StageInPipeline(bytes32 taskTypeId, uint256 pipelineId);
    error UnknownPipeline(uint256 pipelineId);

    uint256 public constant MAX_STAGES = 16;

    ICapacityRegistry public immutable registry;
    IBackpressureHooks public immutable backpressurePool;

    uint256 public pipelineCount;
    mapping(uint256 => bytes32[]) private _stages;
    /// @notice The pipeline a task type belongs to (0: none).
    mapping(bytes32 => uint256) public pipelineOf;

    constructor(ICapacityRegistry registry_, IBackpressureHooks backpressurePool_) {
        registry = registry_;
        backpressurePool = backpressurePool_;
    }

    /// @notice Chains `stages` (upstream first) into a new pipeline and applies its limits.
    function createPipeline(bytes32[] calldata stages) external returns (uint256 pipelineId) {
        if (stages.length < 2) revert TooFewStages();
        if (stages.length > MAX_STAGES) revert TooManyStages(MAX_STAGES);
        pipelineId = ++pipelineCount;
        for (uint256 i; i < stages.length; ++i) {
            bytes32 stage = stages[i];
            address creator = registry.taskType(stage).creator;
            if (creator == address(0)) revert UnknownTaskType(stage);
            if (creator != msg.sender) revert NotStageCreator(stage, creator);
            if (pipelineOf[stage] != 0) revert StageInPipeline(stage, pipelineOf[stage]);
            pipelineOf[stage] = pipelineId;
        }
        _stages[pipelineId] = stages;
        emit PipelineCreated(pipelineId, msg.sender, stages);
        rebalance(pipelineId);
    }

    /// @notice Recomputes the effective capacities back to front and applies them upstream.
    function rebalance(uint256 pipelineId) public {
        uint256[] memory effective = effectiveCapacities(pipelineId);
        bytes32[] storage stages = _stages[pipelineId];
        // The last stage is limited by nothing downstream; every other stage by C_eff.
        for (uint256 i = stages.length - 1; i > 0; --i) {
            backpressurePool.setCapacityLimit(stages[i - 1], effective[i - 1]);
        }
        emit PipelineRebalanced(pipelineId, effective);
    }

    /// @notice C_eff(i) = min(C(i), C_eff(i+1)) for every stage, upstream first.
    function effectiveCapacities(uint256 pipelineId) public view returns (uint256[] memory effective) {
        bytes32[] storage stages = _stages[pipelineId];
        uint256 n = stages.length;
        if (n == 0) revert UnknownPipeline(pipelineId);
        effective = new uint256[](n);
        uint256 downstream = type(uint256).max;
        for (uint256 i = n; i > 0; --i) {
            uint256 own = registry.totalWeight(stages[i - 1]);
            downstream = own < downstream ? own : downstream;
            effective[i - 1] = downstream;
        }
    }

    function stagesOf(uint256 pipelineId) external view returns (bytes32[] memory) {
        return _stages[pipelineId];
    }
}
