// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {BPETest} from "./utils/BPETest.sol";

/// @notice A source that streams into the pool but asks for nothing makes the sinks "paid" for work
/// nobody requested: kept, that pay is charged as shortfall; handed back with `returnPayment` it
/// is not (ShortfallRule.t.sol), and handing back more than a window paid never breaks a judgement.
contract ReturnPaymentTest is BPETest {
    bytes32 internal id;
    address internal a;
    address internal griefer;
    uint256 internal constant FUNDS = 1_000e18;

    function setUp() public override {
        super.setUp();
        id = _taskType("llm", 1e18);
        a = _sink("a", id, 400e18); // backs 20 tasks/epoch
        _declareUntilSettled(a, id, 10);
        griefer = _source("griefer", FUNDS);
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH + RECEIPT_GRACE);
        tracker.advanceEpoch(id, a); // opens the window at an epoch start
        _stream(griefer, id, _rate(10)); // pays for all 10 tasks/epoch, requests none
        vm.warp(block.timestamp + EPOCH);
    }

    /// @notice Without handing the pay back, the sink is charged 95 % of the 10 paid tasks.
    function test_unrequestedPayKeptIsChargedAsShortfall() public {
        uint256 stakeBefore = stakeManager.getStake(a);
        tracker.advanceEpoch(id, a);
        uint256 paidTasks = _received(id, a) / PRICE;
        uint256 owed = paidTasks * (10_000 - tracker.SHORTFALL_TOLERANCE_BPS()) / 10_000;
        assertGt(owed, 0);
        assertEq(stakeBefore - stakeManager.getStake(a), owed * STAKE_UNITS_PER_TASK * STAKE_UNIT);
    }

    /// @notice Giving back more than the window's pay (pay received earlier) leaves nothing expected,
    /// never an underflow that would freeze the sink's evaluation.
    function test_returningMoreThanTheWindowsPayExpectsNothing() public {
        _claimAndReturn(a, _received(id, a));
        _stream(griefer, id, 0);
        vm.warp(block.timestamp + EPOCH);
        tracker.advanceEpoch(id, a); // judges the window with the return
        address extra = _source("extra", 1e18);
        vm.prank(extra);
        IERC20(address(token)).transfer(a, 1e16);
        _returnFrom(a, 1e16); // more than this window paid (nothing)
        vm.warp(block.timestamp + EPOCH);
        uint256 stakeBefore = stakeManager.getStake(a);
        tracker.advanceEpoch(id, a);
        assertEq(stakeManager.getStake(a), stakeBefore);
    }

    function _claimAndReturn(address sink, uint256 amount) internal {
        _pool(id).claimAll(sink);
        _returnFrom(sink, amount);
    }

    function _returnFrom(address sink, uint256 amount) internal {
        vm.startPrank(sink);
        IERC20(address(token)).approve(address(buffer), amount);
        buffer.returnPayment(id, amount);
        vm.stopPrank();
    }
}
