// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @notice StakeManager: every function, every revert, the events, and stake accounting fuzzed.
contract StakeManagerTest is BPETest {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    bytes32 internal constant REASON = "missed completions";

    function _account(address who) internal view returns (StakeManager.Account memory) {
        return stakeManager.accountOf(who);
    }

    // ---------------------------------------------------------------- deployment

    function test_constructor_wiresEverythingImmutably() public view {
        assertEq(address(stakeManager.stakeToken()), address(stakeToken));
        assertEq(address(stakeManager.registry()), address(registry));
        assertEq(stakeManager.slasher(), slasher);
        assertEq(stakeManager.slashRecipient(), treasury);
        assertEq(stakeManager.stakeUnit(), STAKE_UNIT);
        assertEq(stakeManager.minSinkStake(), MIN_SINK_STAKE);
        assertEq(stakeManager.unbondingPeriod(), UNBONDING);
    }

    // ---------------------------------------------------------------- stake

    function test_stake_pullsTokensAndEmits() public {
        stakeToken.mint(alice, 500e18);
        vm.startPrank(alice);
        stakeToken.approve(address(stakeManager), 500e18);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit IStakeManager.Staked(alice, 300e18, 300e18);
        stakeManager.stake(300e18);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit IStakeManager.Staked(alice, 100e18, 400e18);
        stakeManager.stake(100e18);
        vm.stopPrank();
        assertEq(stakeManager.getStake(alice), 400e18);
        assertEq(stakeToken.balanceOf(address(stakeManager)), 400e18);
        assertEq(stakeToken.balanceOf(alice), 100e18);
        assertEq(stakeManager.getCapacityCap(alice), 400, "400 tokens / 1e18 unit: 400 stake units");
        StakeManager.Account memory acc = _account(alice);
        assertEq(acc.staked, 400e18);
        assertEq(acc.unbonding, 0);
        assertEq(acc.releaseAt, 0);
        assertEq(acc.registrations, 0);
    }

    function test_stake_revertsOnZero() public {
        vm.prank(alice);
        vm.expectRevert(StakeManager.ZeroAmount.selector);
        stakeManager.stake(0);
        assertEq(stakeManager.getStake(alice), 0);
    }

    function test_stake_revertsWithoutTokens() public {
        vm.startPrank(alice);
        stakeToken.approve(address(stakeManager), 1e18);
        vm.expectRevert(); // the token's own insufficient-balance error
        stakeManager.stake(1e18);
        vm.stopPrank();
        assertEq(stakeManager.getStake(alice), 0);
    }

    // ---------------------------------------------------------------- cap

    /// @notice The cap is linear in stake (stake units), zero below the minimum stake.
    function test_getCapacityCap_isLinearAboveTheMinimum() public {
        assertEq(stakeManager.getCapacityCap(alice), 0, "no stake");
        _stake(alice, 99e18);
        assertEq(stakeManager.getCapacityCap(alice), 0, "below the minimum stake");
        _stake(alice, 1e18);
        assertEq(stakeManager.getCapacityCap(alice), 100, "100 tokens -> 100 units (5 tasks/epoch at 20 per task)");
        _stake(alice, 300e18);
        assertEq(stakeManager.getCapacityCap(alice), 400, "400 tokens -> 400 units: 4x the stake, 4x the cap");
        _stake(alice, 5e17);
        assertEq(stakeManager.getCapacityCap(alice), 400, "fractions of a unit floor away");
    }

    /// @notice Splitting a stake over identities never gains capacity: n identities holding the
    /// same total together have at most the cap of one, and each must hold the minimum stake.
    function test_getCapacityCap_splittingGainsNothing() public {
        address[4] memory parts = [makeAddr("p0"), makeAddr("p1"), makeAddr("p2"), makeAddr("p3")];
        _stake(alice, 400e18);
        uint256 split;
        for (uint256 i; i < parts.length; ++i) {
            _stake(parts[i], 100e18);
            split += stakeManager.getCapacityCap(parts[i]);
        }
        assertEq(split, stakeManager.getCapacityCap(alice), "4 x 100 tokens back exactly what 400 do");
        // split five ways, each part is below the minimum stake and backs nothing at all
        _stake(bob, 400e18 / 5);
        assertEq(stakeManager.getCapacityCap(bob), 0, "80 tokens: below the minimum, worthless");
    }

    // ---------------------------------------------------------------- unstake

    function test_unstake_startsUnbonding() public {
        _stake(alice, 400e18);
        uint256 releaseAt = block.timestamp + UNBONDING;
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit IStakeManager.Unstaked(alice, 300e18);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit StakeManager.WithdrawRequested(alice, 300e18, releaseAt);
        vm.prank(alice);
        stakeManager.unstake(300e18);
        StakeManager.Account memory acc = _account(alice);
        assertEq(acc.staked, 100e18);
        assertEq(acc.unbonding, 300e18);
        assertEq(acc.releaseAt, releaseAt);
        assertEq(stakeManager.getCapacityCap(alice), 100, "unbonding stops counting at once");
        assertEq(stakeToken.balanceOf(address(stakeManager)), 400e18, "nothing leaves yet");
    }

    function test_unstake_secondRequestRestartsTheClock() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        stakeManager.unstake(100e18);
        vm.warp(block.timestamp + UNBONDING - 1);
        vm.prank(alice);
        stakeManager.unstake(100e18);
        StakeManager.Account memory acc = _account(alice);
        assertEq(acc.unbonding, 200e18);
        assertEq(acc.releaseAt, block.timestamp + UNBONDING, "whole balance waits again");
        vm.warp(block.timestamp + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.StillUnbonding.selector, block.timestamp - 1 + UNBONDING));
        stakeManager.withdraw();
    }

    function test_unstake_revertsOnZero() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        vm.expectRevert(StakeManager.ZeroAmount.selector);
        stakeManager.unstake(0);
    }

    function test_unstake_revertsBeyondStake() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.InsufficientStake.selector, 400e18, 400e18 + 1));
        stakeManager.unstake(400e18 + 1);
        assertEq(stakeManager.getStake(alice), 400e18, "unchanged");
        assertEq(_account(alice).unbonding, 0, "unchanged");
    }

    function test_unstake_revertsWhileRegistered() public {
        bytes32 id = _taskType("t", 0);
        _stake(alice, 400e18);
        _register(alice, id);
        vm.prank(alice);
        registry.setAllowance(id, 10); // leave cap for the second registration
        bytes32 id2 = _taskType("t2", 0);
        _register(alice, id2);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.StakeLocked.selector, 2));
        stakeManager.unstake(1);
        assertEq(stakeManager.getStake(alice), 400e18, "unchanged");
        assertEq(_account(alice).registrations, 2);
    }

    // ---------------------------------------------------------------- withdraw

    function test_withdraw_paysAfterUnbonding() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        stakeManager.unstake(150e18);
        uint256 releaseAt = block.timestamp + UNBONDING;
        vm.warp(releaseAt - 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.StillUnbonding.selector, releaseAt));
        stakeManager.withdraw();
        vm.warp(releaseAt);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit StakeManager.Withdrawn(alice, 150e18);
        vm.prank(alice);
        stakeManager.withdraw();
        assertEq(stakeToken.balanceOf(alice), 150e18);
        assertEq(stakeToken.balanceOf(address(stakeManager)), 250e18);
        assertEq(_account(alice).unbonding, 0);
        assertEq(stakeManager.getStake(alice), 250e18);
    }

    function test_withdraw_revertsWithNothingUnbonding() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        vm.expectRevert(StakeManager.NothingToWithdraw.selector);
        stakeManager.withdraw();
        // and a second withdraw after a successful one
        vm.prank(alice);
        stakeManager.unstake(1e18);
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(alice);
        stakeManager.withdraw();
        vm.prank(alice);
        vm.expectRevert(StakeManager.NothingToWithdraw.selector);
        stakeManager.withdraw();
        assertEq(stakeToken.balanceOf(alice), 1e18, "paid once");
    }

    // ---------------------------------------------------------------- slash

    function test_slash_takesFromStakeToTreasury() public {
        _stake(alice, 400e18);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit IStakeManager.Slashed(alice, 40e18, REASON);
        vm.prank(slasher);
        stakeManager.slash(alice, 40e18, REASON);
        assertEq(stakeManager.getStake(alice), 360e18);
        assertEq(stakeToken.balanceOf(treasury), 40e18);
        assertEq(stakeToken.balanceOf(address(stakeManager)), 360e18);
        assertEq(stakeManager.getCapacityCap(alice), 360, "360 tokens left: 360 units");
    }

    function test_slash_takesStakeFirstThenUnbonding() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        stakeManager.unstake(300e18);
        vm.prank(slasher);
        stakeManager.slash(alice, 250e18, REASON);
        StakeManager.Account memory acc = _account(alice);
        assertEq(acc.staked, 0, "active stake first");
        assertEq(acc.unbonding, 150e18, "then unbonding");
        assertEq(stakeToken.balanceOf(treasury), 250e18);
    }

    function test_slash_takesAtMostWhatThereIs() public {
        _stake(alice, 400e18);
        vm.prank(alice);
        stakeManager.unstake(100e18);
        vm.expectEmit(true, false, false, true, address(stakeManager));
        emit IStakeManager.Slashed(alice, 400e18, REASON);
        vm.prank(slasher);
        stakeManager.slash(alice, 1_000e18, REASON);
        StakeManager.Account memory acc = _account(alice);
        assertEq(acc.staked + acc.unbonding, 0);
        assertEq(stakeToken.balanceOf(treasury), 400e18);
        assertEq(stakeToken.balanceOf(address(stakeManager)), 0);
    }

    /// @notice A slash of a registered sink re-applies the lower cap in the same transaction: its
    /// allowances (and capacities) scale down by cap / allocated, back within the cap.
    function test_slash_scalesTheRegistryAllowances() public {
        bytes32 id = _taskType("t", 0);
        bytes32 id2 = _taskType("t2", 0);
        _stake(alice, 400e18); // cap 400 units: 20 tasks/epoch at 20 units per task
        _register(alice, id);
        vm.prank(alice);
        registry.setAllowance(id, 14);
        _register(alice, id2); // (400 - 14 * 20) / 20 = 6
        assertEq(registry.sinkState(id2, alice).allowance, 6);
        assertEq(registry.allocatedCapacity(alice), 400, "(14 + 6) * 20 units");
        vm.prank(slasher);
        stakeManager.slash(alice, 200e18, REASON); // cap 200
        assertEq(stakeManager.getCapacityCap(alice), 200);
        assertEq(registry.sinkState(id, alice).allowance, 7, "14 * 200 / 400");
        assertEq(registry.sinkState(id2, alice).allowance, 3, "6 * 200 / 400");
        assertEq(registry.allocatedCapacity(alice), 200, "(7 + 3) * 20 units");
        assertEq(_account(alice).registrations, 2, "still registered");
    }

    function test_slash_revertsForStrangers() public {
        _stake(alice, 400e18);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotSlasher.selector, bob));
        stakeManager.slash(alice, 1e18, REASON);
        assertEq(stakeManager.getStake(alice), 400e18);
    }

    function test_slash_revertsOnZero() public {
        _stake(alice, 400e18);
        vm.prank(slasher);
        vm.expectRevert(StakeManager.ZeroAmount.selector);
        stakeManager.slash(alice, 0, REASON);
    }

    function test_slash_revertsWhenNothingToTake() public {
        vm.prank(slasher);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.InsufficientStake.selector, 0, 5e18));
        stakeManager.slash(alice, 5e18, REASON);
        assertEq(stakeToken.balanceOf(treasury), 0);
    }

    function test_slash_unbondingOnlyLeavesRegistryAlone() public {
        // Slashing unbonding stake of a registered sink must not touch its cap (and must work).
        bytes32 id = _taskType("t", 0);
        _stake(alice, 400e18);
        vm.prank(alice);
        stakeManager.unstake(400e18);
        _stake(alice, 400e18);
        _register(alice, id);
        _declare(alice, id, 10);
        vm.prank(slasher);
        stakeManager.slash(alice, 400e18, REASON); // all of the active stake
        assertEq(registry.getSmoothedCapacity(id, alice), 0, "cap 0: capacity gone");
        assertEq(registry.allocatedCapacity(alice), 0, "and the allowance");
        vm.recordLogs();
        vm.prank(slasher);
        stakeManager.slash(alice, 100e18, REASON); // only unbonding left
        assertEq(vm.getRecordedLogs().length, 2, "Slashed + token Transfer, no registry call");
        assertEq(_account(alice).unbonding, 300e18);
        assertEq(stakeToken.balanceOf(treasury), 500e18);
    }

    // ---------------------------------------------------------------- lock / unlock

    function test_lockUnlock_onlyRegistry() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotRegistry.selector, alice));
        stakeManager.lock(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotRegistry.selector, alice));
        stakeManager.unlock(alice);
        assertEq(_account(alice).registrations, 0);
    }

    function test_lockUnlock_countRegistrations() public {
        vm.prank(address(registry));
        stakeManager.lock(alice);
        vm.prank(address(registry));
        stakeManager.lock(alice);
        assertEq(_account(alice).registrations, 2);
        vm.prank(address(registry));
        stakeManager.unlock(alice);
        assertEq(_account(alice).registrations, 1);
    }

    function test_unlock_revertsWithoutRegistration() public {
        vm.prank(address(registry));
        vm.expectRevert(abi.encodeWithSelector(StakeManager.NotRegistered.selector, alice));
        stakeManager.unlock(alice);
    }

    function test_registrationLocksAndDeregistrationUnlocks() public {
        bytes32 id = _taskType("t", 0);
        _stake(alice, 400e18);
        _register(alice, id);
        assertEq(_account(alice).registrations, 1);
        _deregister(alice, id);
        assertEq(_account(alice).registrations, 0);
        vm.prank(alice);
        stakeManager.unstake(400e18);
        assertEq(_account(alice).unbonding, 400e18);
    }

    // ---------------------------------------------------------------- fuzzed accounting

    /// @notice Random stake / unstake / withdraw / slash sequences over three accounts: the
    /// StakeManager holds exactly the sum of staked + unbonding, the treasury exactly what was
    /// slashed, and no token is created or lost. Failed operations change nothing.
    /// forge-config: default.fuzz.runs = 300
    function testFuzz_stakeAccounting(uint256[24] memory ops) public {
        address[3] memory actors = [alice, bob, makeAddr("carol")];
        uint256 minted;
        uint256 slashed;
        for (uint256 i; i < ops.length; ++i) {
            uint256 op = ops[i] % 5;
            address who = actors[(ops[i] >> 8) % 3];
            uint256 amount = bound(ops[i] >> 16, 0, 2_000e18);
            StakeManager.Account memory before = _account(who);
            if (op == 0) {
                if (amount == 0) amount = 1;
                _stake(who, amount);
                minted += amount;
            } else if (op == 1) {
                vm.prank(who);
                try stakeManager.unstake(amount) {
                    assertEq(_account(who).staked, before.staked - amount);
                    assertEq(_account(who).unbonding, before.unbonding + amount);
                } catch {
                    assertTrue(amount == 0 || amount > before.staked, "unstake fails only on bad input");
                    assertEq(_account(who).staked, before.staked, "failed unstake changes nothing");
                }
            } else if (op == 2) {
                uint256 balance = stakeToken.balanceOf(who);
                vm.prank(who);
                try stakeManager.withdraw() {
                    assertEq(stakeToken.balanceOf(who), balance + before.unbonding);
                } catch {
                    assertTrue(before.unbonding == 0 || block.timestamp < before.releaseAt);
                    assertEq(_account(who).unbonding, before.unbonding, "failed withdraw changes nothing");
                }
            } else if (op == 3) {
                vm.prank(slasher);
                try stakeManager.slash(who, amount, REASON) {
                    uint256 had = before.staked + before.unbonding;
                    uint256 taken = amount < had ? amount : had;
                    slashed += taken;
                    StakeManager.Account memory afterwards = _account(who);
                    assertEq(afterwards.staked + afterwards.unbonding, had - taken);
                } catch {
                    assertTrue(amount == 0 || before.staked + before.unbonding == 0);
                }
            } else {
                vm.warp(block.timestamp + bound(ops[i] >> 32, 1, 2 days));
            }

            uint256 held;
            uint256 outside;
            for (uint256 j; j < 3; ++j) {
                StakeManager.Account memory acc = _account(actors[j]);
                held += acc.staked + acc.unbonding;
                outside += stakeToken.balanceOf(actors[j]);
            }
            assertEq(stakeToken.balanceOf(address(stakeManager)), held, "manager holds staked + unbonding");
            assertEq(stakeToken.balanceOf(treasury), slashed, "slashes go to the treasury");
            assertEq(held + outside + slashed, minted, "nothing created or lost");
        }
    }

    /// @notice The cap is floor(stake / unit) above the minimum and 0 below, for any stake.
    function testFuzz_getCapacityCap(uint256 amount) public {
        amount = bound(amount, 1, 1e30);
        _stake(alice, amount);
        uint256 cap = stakeManager.getCapacityCap(alice);
        if (amount < MIN_SINK_STAKE) {
            assertEq(cap, 0);
        } else {
            assertEq(cap, amount / STAKE_UNIT, "linear");
            assertLe(cap * STAKE_UNIT, amount);
            assertGt((cap + 1) * STAKE_UNIT, amount);
        }
    }
}
