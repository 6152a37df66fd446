// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "../utils/BPETest.sol";
import {MoneyHandler} from "./MoneyHandler.sol";

/// @notice Money conservation through the pools and the buffer on the real GDA.
///
/// Rounding bound: ZERO. Every equality below is exact to the wei, at every second, after any
/// sequence of handler actions. Why it can be exact although the GDA rounds:
/// - `distributeFlow` makes the source pay only the rounded rate (a multiple of the pool's total
///   units); the difference is never taken from it.
/// - a unit change re-computes the per-unit rate (rounded down) and sends the difference to the
///   pool admin (the task type's own PoolAdmin) as an "adjustment flow": a real flow, booked to
///   the admin's balance, which `rebalance`/`updateOverflow` sweep into the buffer
///   (`creditRemainder`) for that task type.
/// - `drain` distributes `estimateDistributionActualAmount(...)`, already a multiple of the total
///   units, so an instant distribution leaves nothing behind.
/// - members' shares are per-unit value * units in integers, so the pool's disconnected balance
///   equals the sum of what its disconnected members can claim.
/// The rounding therefore only decides *who* holds a wei (a sink, the buffer, or the admin until
/// the next sweep), never whether it exists; the admin's unswept balance is part of the identity.
contract MoneyConservationTest is BPETest {
    MoneyHandler internal handler;
    bytes32[2] internal ids;

    function setUp() public override {
        super.setUp();
        ids[0] = _taskType("upstream", 50e18);
        ids[1] = _taskType("downstream", 1_000_000e18);
        handler = new MoneyHandler(this.deployment(), ids);
        bytes32[] memory stages = new bytes32[](2);
        stages[0] = ids[0];
        stages[1] = ids[1];
        vm.prank(creator);
        pipeline.createPipeline(stages);

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](21);
        selectors[0] = MoneyHandler.stream.selector;
        selectors[1] = MoneyHandler.stream.selector; // streams change often
        selectors[2] = MoneyHandler.deposit.selector;
        selectors[3] = MoneyHandler.declare.selector;
        selectors[4] = MoneyHandler.declare.selector;
        selectors[5] = MoneyHandler.register.selector;
        selectors[6] = MoneyHandler.deregister.selector;
        selectors[7] = MoneyHandler.slash.selector;
        selectors[8] = MoneyHandler.claim.selector;
        selectors[9] = MoneyHandler.drain.selector;
        selectors[10] = MoneyHandler.rebalance.selector;
        selectors[11] = MoneyHandler.updateOverflow.selector;
        selectors[12] = MoneyHandler.rebalancePipeline.selector;
        selectors[13] = MoneyHandler.warp.selector;
        selectors[14] = MoneyHandler.reportBacklog.selector;
        selectors[15] = MoneyHandler.setAllowance.selector;
        selectors[16] = MoneyHandler.advanceFee.selector;
        selectors[17] = MoneyHandler.hostileTaskType.selector;
        selectors[18] = MoneyHandler.decoyTaskType.selector;
        selectors[19] = MoneyHandler.flashStream.selector;
        selectors[20] = MoneyHandler.returnPay.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _sync() internal {
        vm.warp(handler.currentTime());
        vm.roll(handler.currentBlock());
    }

    /// @notice Everything the sources paid == what the sinks received from the pools, less what they
    /// handed back, + what the buffer holds (its balance and its unclaimed overflow in the pools) +
    /// the GDA remainder the PoolAdmins hold, not swept yet. Exact.
    /// @notice One campaign checks every identity below after every call (each invariant_
    /// function is a campaign of its own in forge, and these share one handler, so one campaign
    /// with more runs buys more coverage per second than five).
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.depth = 40
    function invariant_moneyConserved() public {
        _sync();
        MoneyHandler.Snapshot memory s = handler.snapshot();

        // 1. Everything the sources paid == what the sinks received from the pools (less what
        //    they handed back to the buffer) + what the buffer holds (its balance and its
        //    overflow still in the pools) + the GDA remainder the PoolAdmins have not swept yet.
        assertEq(
            s.paidBySources,
            s.sinksReceived - s.sinksReturned + s.bufferBalance + s.bufferClaimable + s.adminBalance,
            "sources paid == sinks received - returned + buffer + unswept remainder"
        );

        // 2. The Super Token ledger of every account involved (pools included) sums to what was
        //    minted: no wei created or destroyed anywhere.
        uint256 minted = 3 * handler.SOURCE_FUNDS();
        assertEq(
            s.sourceHoldings + int256(s.sinksBalance + s.bufferBalance + s.adminBalance) + s.poolHoldings,
            int256(minted),
            "ledger closed"
        );
        assertEq(token.totalSupply(), minted);

        // 3. A pool holds exactly what its disconnected members (the buffer, unconnected sinks)
        //    can claim; a sink's money is its balance plus its claimable plus what it handed back.
        assertEq(s.poolMismatches, 0, "pool holding == its members' claimable");
        assertEq(s.sinkMismatches, 0, "sink balance + claimable + returned == received");

        // 4. Buffer levels: the per-type ledgers, summed, are what the buffer holds plus what
        //    the pools owe it.
        assertEq(s.bufferLevels, s.bufferBalance + s.bufferClaimable, "sum of levels == balance + claimable");

        // 5. Keepers never hit an unexpected revert; registry totals (capacity and weight) stay exact.
        assertEq(handler.unexpectedReverts(), 0, string(handler.lastUnexpected()));
        _totalCapacityExact();
    }

    function _totalCapacityExact() internal view {
        for (uint256 t; t < 2; ++t) {
            address[] memory members = registry.sinksOf(ids[t]);
            uint256 sum;
            uint256 weights;
            for (uint256 i; i < members.length; ++i) {
                sum += registry.getSmoothedCapacity(ids[t], members[i]);
                weights += registry.weightOf(ids[t], members[i]);
            }
            assertEq(registry.totalCapacity(ids[t]), sum);
            assertEq(registry.totalWeight(ids[t]), weights);
        }
    }

    /// @notice At the end of every run, a sweep leaves the admin empty: every wei the sources
    /// paid is then with a sink or in the buffer (balance or claimable), exactly.
    function afterInvariant() public {
        _sync();
        bpPool.updateOverflow(ids[0]);
        bpPool.updateOverflow(ids[1]);
        assertEq(token.balanceOf(address(bpPool.poolInfo(ids[0]).admin)), 0, "remainders swept");
        assertEq(token.balanceOf(address(bpPool.poolInfo(ids[1]).admin)), 0, "remainders swept");
        assertEq(token.balanceOf(address(bpPool)), 0, "nothing ever with the BackpressurePool");
        assertEq(
            handler.paidBySources(),
            handler.receivedBySinks() - handler.returnedBySinks() + buffer.bufferLevel(ids[0])
                + buffer.bufferLevel(ids[1]),
            "sources paid == sinks received - returned + buffer levels"
        );
    }
}
