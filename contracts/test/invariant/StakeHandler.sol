// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Handler} from "./Handler.sol";
import {StakeManager} from "../../src/StakeManager.sol";

/// @notice Drives stake accounts for the stake-conservation invariant: stake, unstake, withdraw,
/// slash, register, deregister, time. Invalid attempts are made on purpose; the handler checks
/// that each one fails with the right error and changes nothing, and counts violations.
contract StakeHandler is Handler {
    address[4] public actors;
    bytes32[2] public ids;
    uint256 public minted;
    uint256 public slashed;

    constructor(Deployment memory d, bytes32[2] memory ids_) {
        _adopt(d);
        ids = ids_;
        for (uint256 i; i < 4; ++i) {
            actors[i] = makeAddr(string.concat("staker-", vm.toString(i)));
        }
        _startClock();
    }

    function _account(address who) internal view returns (StakeManager.Account memory) {
        return stakeManager.accountOf(who);
    }

    function _same(StakeManager.Account memory x, StakeManager.Account memory y) internal pure returns (bool) {
        return x.staked == y.staked && x.unbonding == y.unbonding && x.releaseAt == y.releaseAt
            && x.registrations == y.registrations;
    }

    function stake(uint256 actorSeed, uint256 amount) external clock("stake") {
        amount = bound(amount, 1, 5_000e18);
        _stake(actors[actorSeed % 4], amount);
        minted += amount;
    }

    function unstake(uint256 actorSeed, uint256 amount) external clock("unstake") {
        address who = actors[actorSeed % 4];
        StakeManager.Account memory before = _account(who);
        amount = bound(amount, 0, before.staked + 1e18);
        vm.prank(who);
        try stakeManager.unstake(amount) {
            if (amount == 0 || amount > before.staked || before.registrations != 0) {
                _violation("unstake succeeded on bad input or while locked");
            }
            StakeManager.Account memory afterwards = _account(who);
            if (afterwards.staked != before.staked - amount || afterwards.unbonding != before.unbonding + amount) {
                _violation("unstake moved the wrong amount");
            }
            if (afterwards.releaseAt != block.timestamp + UNBONDING) _violation("unbonding clock not restarted");
        } catch (bytes memory err) {
            bytes4 sel = bytes4(err);
            bool expected = (amount == 0 && sel == StakeManager.ZeroAmount.selector)
                || (before.registrations != 0 && sel == StakeManager.StakeLocked.selector)
                || (amount > before.staked && sel == StakeManager.InsufficientStake.selector);
            if (!expected) _violation("unstake failed with an unexpected error");
            if (!_same(before, _account(who))) _violation("failed unstake changed state");
        }
    }

    function withdraw(uint256 actorSeed) external clock("withdraw") {
        address who = actors[actorSeed % 4];
        StakeManager.Account memory before = _account(who);
        uint256 balance = stakeToken.balanceOf(who);
        vm.prank(who);
        try stakeManager.withdraw() {
            if (before.unbonding == 0 || block.timestamp < before.releaseAt) _violation("early or empty withdraw");
            if (stakeToken.balanceOf(who) != balance + before.unbonding) _violation("withdraw paid the wrong amount");
        } catch (bytes memory err) {
            bytes4 sel = bytes4(err);
            bool expected = (before.unbonding == 0 && sel == StakeManager.NothingToWithdraw.selector)
                || (block.timestamp < before.releaseAt && sel == StakeManager.StillUnbonding.selector);
            if (!expected) _violation("withdraw failed with an unexpected error");
            if (!_same(before, _account(who))) _violation("failed withdraw changed state");
        }
    }

    function slash(uint256 actorSeed, uint256 amount) external clock("slash") {
        address who = actors[actorSeed % 4];
        StakeManager.Account memory before = _account(who);
        uint256 had = before.staked + before.unbonding;
        amount = bound(amount, 1, had + 100e18);
        vm.prank(slasher);
        try stakeManager.slash(who, amount, "invariant") {
            uint256 taken = amount < had ? amount : had;
            slashed += taken;
            StakeManager.Account memory afterwards = _account(who);
            if (afterwards.staked + afterwards.unbonding != had - taken) _violation("slash took the wrong amount");
            if (before.staked >= amount && afterwards.unbonding != before.unbonding) {
                _violation("slash touched unbonding stake before active stake");
            }
        } catch (bytes memory err) {
            if (had != 0 || bytes4(err) != StakeManager.InsufficientStake.selector) _violation("slash failed");
        }
    }

    function register(uint256 actorSeed, uint256 typeSeed) external clock("register") {
        address who = actors[actorSeed % 4];
        bytes32 id = ids[typeSeed % 2];
        if (registry.isRegistered(id, who)) return;
        if (stakeManager.getStake(who) < MIN_SINK_STAKE) return;
        uint256 cap = stakeManager.getCapacityCap(who);
        uint256 allocated = registry.allocatedCapacity(who);
        if (cap < allocated + STAKE_UNITS_PER_TASK) {
            // the cap left backs not one task here: free half of the other registration first
            bytes32 other = ids[(typeSeed + 1) % 2];
            uint256 half = registry.sinkState(other, who).allowance / 2;
            vm.prank(who);
            registry.setAllowance(other, half);
        }
        _register(who, id);
    }

    function deregister(uint256 actorSeed, uint256 typeSeed) external clock("deregister") {
        address who = actors[actorSeed % 4];
        bytes32 id = ids[typeSeed % 2];
        if (!registry.isRegistered(id, who)) return;
        _deregister(who, id);
    }

    function warp(uint256 secs) external clock("warp") {
        vm.warp(block.timestamp + bound(secs, 1, 2 days));
    }

    function actorCount() external pure returns (uint256) {
        return 4;
    }
}
