// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {StakeHandler} from "./StakeHandler.sol";
import {StakeManager} from "../../src/StakeManager.sol";

/// @notice Stake conservation: the StakeManager holds exactly the sum of staked + unbonding
/// stake, the treasury exactly what was slashed, and no stake token is created or lost; locks,
/// unbonding and slashing behave (every violation the handler observes is counted).
contract StakeInvariantTest is BPETest {
    StakeHandler internal handler;
    bytes32[2] internal ids;

    function setUp() public override {
        super.setUp();
        ids[0] = _taskType("a", 0); // stakes the creator's MIN_SINK_STAKE
        ids[1] = _taskType("b", 0);
        handler = new StakeHandler(this.deployment(), ids);
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = StakeHandler.stake.selector;
        selectors[1] = StakeHandler.unstake.selector;
        selectors[2] = StakeHandler.withdraw.selector;
        selectors[3] = StakeHandler.slash.selector;
        selectors[4] = StakeHandler.register.selector;
        selectors[5] = StakeHandler.deregister.selector;
        selectors[6] = StakeHandler.warp.selector;
        selectors[7] = StakeHandler.stake.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// forge-config: default.invariant.runs = 256
    /// forge-config: default.invariant.depth = 40
    function invariant_stakeConserved() public view {
        uint256 held = MIN_SINK_STAKE; // the task-type creator's stake
        uint256 outside;
        for (uint256 i; i < handler.actorCount(); ++i) {
            address who = handler.actors(i);
            StakeManager.Account memory acc = stakeManager.accountOf(who);
            held += acc.staked + acc.unbonding;
            outside += stakeToken.balanceOf(who);
            // the registry and the lock agree
            assertEq(acc.registrations, registry.registrationsOf(who).length, "locks == registrations");
            // the cap follows the active stake only
            uint256 cap = stakeManager.getCapacityCap(who);
            if (acc.staked < MIN_SINK_STAKE) {
                assertEq(cap, 0);
            } else {
                assertEq(cap, acc.staked / STAKE_UNIT, "linear in the active stake");
            }
        }
        assertEq(stakeToken.balanceOf(address(stakeManager)), held, "manager holds staked + unbonding");
        assertEq(stakeToken.balanceOf(treasury), handler.slashed(), "slashes go to the treasury");
        assertEq(held + outside + handler.slashed(), handler.minted() + MIN_SINK_STAKE, "nothing created or lost");
        assertEq(handler.violations(), 0, handler.lastViolation());
    }
}
