// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {RegistryHandler} from "./RegistryHandler.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";
import {CapacityMath} from "../../src/libraries/CapacityMath.sol";

/// @notice Registry invariants under random registration, declaration, spam, slashing and stake
/// changes: totals exact, caps respected, lists consistent, units following capacities.
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
        bytes4[] memory selectors = new bytes4[](10);
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
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// forge-config: default.invariant.runs = 256
    /// forge-config: default.invariant.depth = 40
    function invariant_registryConsistent() public view {
        // per task type: totalCapacity == sum of smoothed; list, count and indices agree;
        // every member's units follow its capacity (within the deadband)
        for (uint256 t; t < 3; ++t) {
            address[] memory members = registry.sinksOf(ids[t]);
            assertEq(registry.taskType(ids[t]).sinkCount, members.length, "sinkCount");
            uint256 sum;
            uint256 unitSum;
            for (uint256 i; i < members.length; ++i) {
                CapacityRegistry.SinkState memory s = registry.sinkState(ids[t], members[i]);
                assertTrue(s.registered, "listed => registered");
                assertEq(s.index, i, "index");
                sum += s.smoothed;
                uint256 units = _units(ids[t], members[i]);
                unitSum += units;
                assertFalse(
                    CapacityMath.outsideDeadband(units, uint256(s.smoothed) * UNIT_SCALE, REBALANCE_THRESHOLD_BPS),
                    "units follow smoothed capacity"
                );
            }
            assertEq(registry.totalCapacity(ids[t]), sum, "totalCapacity == sum of smoothed");
            assertEq(
                _pool(ids[t]).getTotalUnits(), unitSum + _units(ids[t], address(buffer)), "pool units: sinks + buffer"
            );
        }
        // per sink: reserved == sum over its types of max(raw, smoothed) <= cap; locks agree
        for (uint256 i; i < handler.sinkCount(); ++i) {
            address sink = handler.sinks(i);
            bytes32[] memory regs = registry.registrationsOf(sink);
            uint256 backed;
            for (uint256 r; r < regs.length; ++r) {
                CapacityRegistry.SinkState memory s = registry.sinkState(regs[r], sink);
                assertTrue(s.registered);
                backed += s.raw > s.smoothed ? s.raw : s.smoothed;
            }
            assertEq(registry.reservedCapacity(sink), backed, "reserved exact");
            assertLe(backed, stakeManager.getCapacityCap(sink), "reserved <= cap");
            assertEq(stakeManager.accountOf(sink).registrations, regs.length, "locks == registrations");
            for (uint256 t; t < 3; ++t) {
                if (!registry.sinkState(ids[t], sink).registered) {
                    assertEq(_units(ids[t], sink), 0, "no units without registration");
                    assertEq(registry.commitmentOf(ids[t], sink).hash, bytes32(0), "no commitment either");
                }
            }
        }
        assertEq(handler.violations(), 0, handler.lastViolation());
    }
}
