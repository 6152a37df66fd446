// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./utils/BPETest.sol";
import {OffchainAggregator} from "../src/OffchainAggregator.sol";
import {CompletionTracker} from "../src/CompletionTracker.sol";
import {CapacityMath} from "../src/libraries/CapacityMath.sol";

/// @notice End to end on the real GDA with all three mechanisms: capacity declared by relayed
/// attestations, work verified by dual-signed receipts, prices moved by backlogs and demand.
/// A sink that over-declares is slashed after 3 epochs and its stream share drops in that same
/// transaction; a sink whose price rises loses share to cheaper sinks. This suite deploys the
/// seeds' strike rule (Rule.Strikes); the default shortfall rule end to end is in
/// ShortfallRule.t.sol.
contract VerificationEndToEndTest is BPETest {
    bytes32 internal id;
    address internal relayer = makeAddr("relayer");
    address internal keeper = makeAddr("keeper");
    address internal src;
    uint256 internal srcKey;
    mapping(address => uint256) internal keyOf;
    mapping(address => uint256) internal nonceOf;
    uint256 internal salt;

    /// @dev The strike rule, selectable at deployment.
    function _verificationRule() internal pure override returns (CompletionTracker.Rule) {
        return CompletionTracker.Rule.Strikes;
    }

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = _taskType("llm", 1_000e18);
        (src, srcKey) = _keyedSource("src", 1e24);
    }

    function _newSink(string memory name, uint256 stakeAmount) internal returns (address sink) {
        uint256 key;
        (sink, key) = _keyedSink(name, id, stakeAmount);
        keyOf[sink] = key;
    }

    /// @notice The capacity oracle's job: one batch per minute carrying every sink's attestation,
    /// until every smoothed capacity reached its declaration.
    function _attestUntilSettled(address[] memory sinks, uint256[] memory capacities) internal {
        for (uint256 round; round < 100; ++round) {
            bool settled = true;
            Attestation[] memory items = new Attestation[](sinks.length);
            for (uint256 i; i < sinks.length; ++i) {
                if (registry.getSmoothedCapacity(id, sinks[i]) != capacities[i]) settled = false;
                items[i] =
                    _attestation(keyOf[sinks[i]], id, sinks[i], capacities[i], 0, ++nonceOf[sinks[i]], block.timestamp);
            }
            if (settled) break;
            vm.prank(relayer);
            assertEq(aggregator.submitAttestations(_pack(items)), sinks.length, "every attestation lands");
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        }
        for (uint256 i; i < sinks.length; ++i) {
            assertEq(registry.getSmoothedCapacity(id, sinks[i]), capacities[i], "settled");
        }
        bpPool.rebalance(id); // units exactly on capacity
    }

    /// @notice The keeper's moment: the next epoch boundary plus the tracker's receipt grace, the
    /// first second at which the epoch that just ended can be judged.
    function _toEpochStart() internal {
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH + RECEIPT_GRACE);
    }

    function _pair(address x, uint256 cx, address y, uint256 cy)
        internal
        pure
        returns (address[] memory sinks, uint256[] memory caps)
    {
        sinks = new address[](2);
        caps = new uint256[](2);
        (sinks[0], sinks[1], caps[0], caps[1]) = (x, y, cx, cy);
    }

    // ---------------------------------------------------------------- over-declaring sink

    /// @notice `honest` declares 10 and does the work it is paid for; `liar` declares 20 and does
    /// nothing. The source pays 9 tasks/epoch: 3 to honest, 6 to liar. After three failed epochs
    /// the keeper's evaluation slashes the liar 10 %, and in that transaction its units drop
    /// (20 -> 18) and the honest sink's share of the stream rises.
    function test_overDeclaringSinkSlashedAfterThreeEpochs_shareDropsAtOnce() public {
        address honest = _newSink("honest", 400e18);
        address liar = _newSink("liar", 400e18);
        (address[] memory sinks, uint256[] memory caps) = _pair(honest, 10, liar, 20);
        _attestUntilSettled(sinks, caps);
        _stream(src, id, _rate(9)); // 3e13 wei/s: 1e9 per unit
        assertEq(_memberRate(id, honest), 1e13);
        assertEq(_memberRate(id, liar), 2e13);

        _toEpochStart();
        vm.startPrank(keeper);
        tracker.advanceEpoch(id, honest);
        tracker.advanceEpoch(id, liar);
        vm.stopPrank();

        for (uint256 epoch; epoch < 3; ++epoch) {
            vm.warp(block.timestamp + 120);
            _complete(id, honest, keyOf[honest], src, srcKey, 3, ++salt); // all it was paid for
            _toEpochStart();
            vm.prank(keeper);
            tracker.advanceEpoch(id, honest);
            uint256 liarRate = _memberRate(id, liar);
            uint256 honestRate = _memberRate(id, honest);
            uint256 liarUnits = _units(id, liar);
            vm.prank(keeper);
            tracker.advanceEpoch(id, liar);
            if (epoch < 2) {
                assertEq(tracker.windowOf(id, liar).strikes, epoch + 1, "a strike per failed epoch");
                assertEq(stakeManager.getStake(liar), 400e18, "not yet");
                assertEq(_units(id, liar), liarUnits);
                continue;
            }
            // the third failed epoch: slashed, and the stream re-split in the same transaction
            assertEq(stakeManager.getStake(liar), 360e18, "10 % of the stake");
            assertEq(stakeToken.balanceOf(treasury), 40e18, "to the treasury");
            assertEq(registry.getSmoothedCapacity(id, liar), 18, "capacity cut with the cap");
            assertEq(_units(id, liar), 18_000, "units cut at once");
            assertLt(_memberRate(id, liar), liarRate, "the liar's share dropped at once");
            assertGt(_memberRate(id, honest), honestRate, "the honest sink's share rose");
            // per-unit split of the same stream: 18 : 10
            assertEq(_memberRate(id, liar) * 10, _memberRate(id, honest) * 18);
        }
        assertEq(stakeManager.getStake(honest), 400e18, "the honest sink is never slashed");
        assertEq(tracker.windowOf(id, honest).strikes, 0);

        // and from then on the money follows the new split
        uint256 liarBefore = _received(id, liar);
        uint256 honestBefore = _received(id, honest);
        vm.warp(block.timestamp + EPOCH);
        assertEq((_received(id, liar) - liarBefore) * 10, (_received(id, honest) - honestBefore) * 18);
    }

    // ---------------------------------------------------------------- price rises, share falls

    /// @notice Three equal sinks share a stream equally; one reports a backlog (through a relayed
    /// attestation), its price doubles and its share halves, the two cheaper sinks taking the rest.
    /// Clearing the backlog restores the equal split.
    function test_sinkWhosePriceRisesLosesShareToCheaperSinks() public {
        address a = _newSink("a", 400e18);
        address b = _newSink("b", 400e18);
        address c = _newSink("c", 400e18);
        address[] memory sinks = new address[](3);
        uint256[] memory caps = new uint256[](3);
        (sinks[0], sinks[1], sinks[2]) = (a, b, c);
        (caps[0], caps[1], caps[2]) = (10, 10, 10);
        _attestUntilSettled(sinks, caps);
        _stream(src, id, _rate(18)); // 6e13 wei/s over 30,000 units
        assertEq(_memberRate(id, a), 2e13);
        assertEq(_memberRate(id, c), 2e13);
        assertEq(pricing.priceOf(id, c), pricing.priceOf(id, a));

        // c's queue: 10 tasks waiting on a capacity of 10
        vm.prank(relayer);
        aggregator.submitAttestations(_pack(_one(_attestation(keyOf[c], id, c, 10, 10, ++nonceOf[c], block.timestamp))));
        assertEq(pricing.priceOf(id, c), 2 * PRICE, "price doubled: base * (1 + 10 / 10)");
        assertEq(pricing.priceOf(id, a), PRICE);
        assertEq(_units(id, c), 5_000, "weight 10 / 2");
        assertEq(_memberRate(id, c), 1.2e13, "share halved");
        assertEq(_memberRate(id, a), 2.4e13, "the cheaper sinks take the rest");
        assertEq(_memberRate(id, b), 2.4e13);
        assertEq(_units(id, address(buffer)), 0, "all still absorbed: 18 of 25");

        uint256 ra = _received(id, a);
        uint256 rc = _received(id, c);
        vm.warp(block.timestamp + EPOCH);
        assertEq(_received(id, c) - rc, 3.6e15, "c is paid 3.6 tasks at base fee = 1.8 at its own price");
        assertEq(_received(id, a) - ra, 7.2e15);

        // backlog cleared (a direct report this time): equal again
        vm.prank(c);
        registry.reportBacklog(id, 0);
        assertEq(_memberRate(id, c), 2e13);
        assertEq(_memberRate(id, a), 2e13);
    }

    /// @notice At full demand a backlog also shrinks what the task type absorbs: the dear sink's
    /// lost share goes to the buffer, not to sinks that are already full.
    function test_backlogAtFullDemandOverflowsToTheBuffer() public {
        address a = _newSink("a", 400e18);
        address c = _newSink("c", 400e18);
        (address[] memory sinks, uint256[] memory caps) = _pair(a, 10, c, 10);
        _attestUntilSettled(sinks, caps);
        _stream(src, id, _rate(18)); // 90 % of the 20 tasks/epoch
        bpPool.updateOverflow(id);
        assertEq(_units(id, address(buffer)), 0);

        vm.prank(c);
        registry.reportBacklog(id, 30); // weight 10 / (1 + 3) = 2 (2.5 rounded down)
        assertEq(registry.totalWeight(id), 12);
        uint256 absorbable = 12 * PRICE / EPOCH;
        assertEq(bpPool.absorbableRate(id), absorbable);
        assertEq(
            _units(id, address(buffer)),
            CapacityMath.overflowUnits(12_000, _rateOf(18), absorbable),
            "overflow share sized in the same transaction"
        );
        assertLe(_sinksRate(id), absorbable, "sinks are not sent more than they absorb");
        assertApproxEqRel(_sinksRate(id), absorbable, 1e13);
        assertApproxEqRel(_memberRate(id, address(buffer)), _rateOf(18) - absorbable, 1e13);
        assertApproxEqRel(_memberRate(id, a) * 2, _memberRate(id, c) * 10, 1e13, "a : c = 10 : 2");
    }

    // ---------------------------------------------------------------- a whole market, keeper-driven

    /// @notice Three honest sinks and a liar, capacity by relayed batches, a keeper advancing the
    /// base fee and every sink's epoch: the liar alone is slashed (on the third evaluation), the
    /// honest sinks (completing every task they are paid for, each receipt spending the base fee
    /// from the source's credit) never, the base fee walks toward the target utilisation, and the
    /// pool keeps pricing capacity at the current fee.
    function test_keeperDrivenMarket() public {
        address[] memory sinks = new address[](4);
        uint256[] memory caps = new uint256[](4);
        sinks[0] = _newSink("h1", 400e18);
        sinks[1] = _newSink("h2", 400e18);
        sinks[2] = _newSink("h3", 400e18);
        sinks[3] = _newSink("liar", 400e18);
        (caps[0], caps[1], caps[2], caps[3]) = (10, 15, 20, 15);
        _attestUntilSettled(sinks, caps);
        _stream(src, id, _rate(36)); // 60 % of 60 tasks/epoch: below the 80 % target

        _toEpochStart();
        vm.startPrank(keeper);
        assertEq(pricing.advanceEpoch(id), PRICE, "the first advance starts the fee's clock");
        for (uint256 i; i < 4; ++i) {
            tracker.advanceEpoch(id, sinks[i]);
        }
        vm.stopPrank();

        uint256 lastFee = pricing.baseFee(id);
        for (uint256 epoch; epoch < 5; ++epoch) {
            vm.warp(block.timestamp + 230); // late in the epoch: most of its payment is in
            uint256 fee = pricing.baseFee(id);
            for (uint256 i; i < 3; ++i) {
                // every task the source pays this sink for in an epoch (its share of 36 at the fee)
                uint256 paidTasks = _rateOf(36) * EPOCH * caps[i] / (60 * fee);
                _complete(id, sinks[i], keyOf[sinks[i]], src, srcKey, paidTasks, ++salt);
            }
            _toEpochStart();
            vm.startPrank(keeper);
            fee = pricing.advanceEpoch(id);
            for (uint256 i; i < 4; ++i) {
                tracker.advanceEpoch(id, sinks[i]);
            }
            vm.stopPrank();
            assertLt(fee, lastFee, "utilisation below target: the base fee falls");
            lastFee = fee;
            assertEq(bpPool.absorbableRate(id), registry.totalWeight(id) * fee / EPOCH, "pool prices at the fee");
            assertEq(stakeManager.getStake(sinks[3]), epoch < 2 ? 400e18 : 360e18, "the liar, on the 3rd");
        }
        for (uint256 i; i < 3; ++i) {
            assertEq(stakeManager.getStake(sinks[i]), 400e18, "honest sinks keep their stake");
            assertEq(tracker.windowOf(id, sinks[i]).strikes, 0);
        }
        assertEq(stakeToken.balanceOf(treasury), 40e18, "one slash in five epochs: strikes restart after it");
        assertEq(tracker.windowOf(id, sinks[3]).strikes, 2, "and the liar is heading for the next");
        uint256 u = pricing.utilizationBps(bpPool.inflowRate(id), registry.totalWeight(id), lastFee);
        assertGt(u, 6_000, "utilisation climbing toward the target as the fee falls");
        assertLe(u, TARGET_UTILIZATION_BPS + 1);
    }

}
