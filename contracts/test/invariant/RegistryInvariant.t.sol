// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {RegistryHandler} from "./RegistryHandler.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";
import {CapacityMath} from "../../src/libraries/CapacityMath.sol";

/// @notice Registry invariants under random registration, declaration (reveals and relayed
/// attestations), backlog reports, allowance moves, spam, slashing, stake changes and rebalances:
/// totals (capacity and weight) exact, allowances within the cap and capacities within the
/// allowances, lists consistent, units following the queue-adjusted weights.
contract RegistryInvariantTest is BPETest {
    RegistryHandler internal handler;
    bytes32[3] internal ids;

    function setUp() public override {
        super.setUp();
        ids[0] = _taskType("x", 0);
        ids[1] = _taskType("y", 0);
        ids[2] = _taskType("z", 0);
        handler = new RegistryHandler(this.deployment(), ids);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = RegistryHandler.declare.selector;
        selectors[1] = RegistryHandler.declare.selector;
        selectors[2] = RegistryHandler.declare.selector;
        selectors[3] = RegistryHandler.spam.selector;
        selectors[4] = RegistryHandler.commitOnly.selector;
        selectors[5] = RegistryHandler.register.selector;
        selectors[6] = RegistryHandler.deregister.selector;
        selectors[7] = RegistryHandler.topUp.selector;
        selectors[8] = RegistryHandler.slash.selector;
        selectors[9] = RegistryHandler.warp.selector;
        selectors[10] = RegistryHandler.attest.selector;
        selectors[11] = RegistryHandler.reportBacklog.selector;
        selectors[12] = RegistryHandler.setAllowance.selector;
        selectors[13] = RegistryHandler.rebalance.selector;
        selectors[14] = RegistryHandler.register.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// forge-config: default.invariant.runs = 256
    /// forge-config: default.invariant.depth = 40
    function invariant_registryConsistent() public view {
        // per task type: totalCapacity == sum of smoothed, totalWeight == sum of weightOf; list,
        // count and indices agree; every member's units are its pushed weight, and the pushed
        // weight stays within the deadband of its weight
        for (uint256 t; t < 3; ++t) {
            address[] memory members = registry.sinksOf(ids[t]);
            assertEq(registry.taskType(ids[t]).sinkCount, members.length, "sinkCount");
            uint256 sum;
            uint256 weights;
            uint256 unitSum;
            for (uint256 i; i < members.length; ++i) {
                CapacityRegistry.SinkState memory s = registry.sinkState(ids[t], members[i]);
                assertTrue(registry.isRegistered(ids[t], members[i]), "listed => registered");
                assertEq(s.index, i + 1, "index");
                assertLe(s.smoothed, s.allowance, "smoothed <= allowance");
                sum += s.smoothed;
                uint256 weight = registry.weightOf(ids[t], members[i]);
                assertEq(weight, CapacityMath.queueWeight(s.smoothed, s.backlog, QUEUE_PREMIUM_BPS), "weight");
                assertLe(weight, s.smoothed, "a backlog never raises the weight");
                weights += weight;
                uint256 units = _units(ids[t], members[i]);
                unitSum += units;
                assertEq(units, uint256(s.pushed) * UNIT_SCALE, "units == pushed weight * scale");
                assertFalse(
                    CapacityMath.outsideDeadband(s.pushed, weight, REBALANCE_THRESHOLD_BPS),
                    "units follow the queue-adjusted weight"
                );
            }
            assertEq(registry.totalCapacity(ids[t]), sum, "totalCapacity == sum of smoothed");
            assertEq(registry.totalWeight(ids[t]), weights, "totalWeight == sum of weightOf");
            assertEq(
                _pool(ids[t]).getTotalUnits(), unitSum + _units(ids[t], address(buffer)), "pool units: sinks + buffer"
            );
        }
        // per sink: allocatedCapacity == sum of its allowances, each times its task type's stake
        // units per task, <= cap; locks agree
        for (uint256 i; i < handler.sinkCount(); ++i) {
            address sink = handler.sinks(i);
            bytes32[] memory regs = registry.registrationsOf(sink);
            uint256 allotted;
            for (uint256 r; r < regs.length; ++r) {
                assertTrue(registry.isRegistered(regs[r], sink));
                allotted += uint256(registry.sinkState(regs[r], sink).allowance)
                * registry.taskType(regs[r]).stakeUnitsPerTask;
            }
            assertEq(
                registry.allocatedCapacity(sink),
                allotted,
                "allocatedCapacity == sum of allowances * stake units per task"
            );
            assertLe(allotted, stakeManager.getCapacityCap(sink), "allowances <= cap");
            assertEq(stakeManager.accountOf(sink).registrations, regs.length, "locks == registrations");
            for (uint256 t; t < 3; ++t) {
                if (!registry.isRegistered(ids[t], sink)) {
                    assertEq(_units(ids[t], sink), 0, "no units without registration");
                    assertEq(registry.commitmentOf(ids[t], sink).hash, bytes32(0), "no commitment either");
                    CapacityRegistry.SinkState memory s = registry.sinkState(ids[t], sink);
                    assertEq(s.smoothed + s.allowance + s.backlog + s.pushed, 0, "no state either (but the nonce)");
                }
            }
        }
        assertEq(handler.violations(), 0, handler.lastViolation());
    }
}
