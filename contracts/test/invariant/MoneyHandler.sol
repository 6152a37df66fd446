// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {ISuperfluid} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluid.sol";
import {
    ISuperTokenFactory
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperTokenFactory.sol";
import {
    IGeneralDistributionAgreementV1
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/IGeneralDistributionAgreementV1.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {Handler} from "./Handler.sol";
import {HostileSuperToken, DecoyGDA, DecoyHost} from "../utils/Hostile.sol";
import {SuperfluidBound} from "../../src/base/SuperfluidBound.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";
import {EscrowBuffer} from "../../src/EscrowBuffer.sol";
import {PricingCurve} from "../../src/PricingCurve.sol";

/// @notice Drives money through the real GDA for the conservation invariant: sources open,
/// change and close streams and deposit into the buffer; sinks register, declare, report
/// backlogs, move allowances, deregister, get slashed, claim; keepers rebalance, update the
/// overflow share, drain, re-apply the pipeline, step the base fee; time passes. Two task types share the token (so remainder sweeps and buffer levels
/// interact), chained upstream -> downstream by a pipeline. Some sinks never connect to a pool,
/// so part of the money waits in the pool as claimable. Attackers play too: a task type priced in
/// a token its creator bricks once handler sinks have joined it, a decoy token pointing at a host
/// of the attacker's, and one-block streams around the base fee's epoch; slashes, deregistrations
/// and keepers must go on as before (any revert of theirs counts as unexpected).
contract MoneyHandler is Handler {
    using SuperTokenV1Library for ISuperToken;

    uint256 public constant SOURCE_FUNDS = 1_000_000e18;
    uint256 public constant MAX_RATE = 2e15; // wei/s, about 3x what all sinks of a type absorb

    bytes32[2] public ids;
    address[5] public sinks;
    address[3] public sources;
    /// @dev connected[sink][type]: whether the sink connected to that type's pool
    mapping(address => mapping(uint256 => bool)) public connected;

    uint256 public unexpectedReverts;
    bytes public lastUnexpected;

    address public mallory = makeAddr("money-mallory");
    HostileSuperToken public hostile;
    bytes32 public hostileId;

    constructor(Deployment memory d, bytes32[2] memory ids_) {
        _adopt(d);
        ids = ids_;
        uint96[5] memory stakes = [uint96(400e18), 900e18, 1600e18, 2500e18, 3600e18];
        for (uint256 i; i < 5; ++i) {
            sinks[i] = makeAddr(string.concat("money-sink-", vm.toString(i)));
            _stake(sinks[i], stakes[i]);
            // sinks 0-3 serve type 0, sinks 2-4 serve type 1; sink 3 never connects to pool 0
            // and sink 4 never to pool 1
            if (i <= 3) _join(i, 0, i != 3);
            if (i >= 2) _join(i, 1, i != 4);
        }
        for (uint256 j; j < 3; ++j) {
            sources[j] = _source(string.concat("money-source-", vm.toString(j)), SOURCE_FUNDS);
        }
        _startClock();
    }

    function _join(uint256 i, uint256 t, bool connect) internal {
        _makeRoom(sinks[i]);
        _register(sinks[i], ids[t]);
        if (connect) {
            _connect(sinks[i], ids[t]);
            connected[sinks[i]][t] = true;
        }
    }

    function _unexpected(bytes memory err) internal {
        ++unexpectedReverts;
        lastUnexpected = err;
    }

    // ---------------------------------------------------------------- sources

    /// @notice Opens, changes or closes a stream. Rates are drawn relative to what the task
    /// type's sinks absorb (0 to 1.2x per source, three sources), so demand swings between
    /// spare capacity (drains possible) and overflow (buffer fills), with odd, unround rates.
    function stream(uint256 sourceSeed, uint256 typeSeed, uint256 rate) external clock("stream") {
        address source = sources[sourceSeed % 3];
        bytes32 id = ids[typeSeed % 2];
        uint256 absorbable = bpPool.absorbableRate(id);
        if (rate % 5 == 0) {
            rate = 0; // close the stream
        } else if (absorbable == 0) {
            rate = bound(rate, 1e9, MAX_RATE);
        } else {
            rate = absorbable * bound(rate >> 8, 1, 120) / 100 + (rate >> 128) % 1e9;
            if (rate > MAX_RATE) rate = MAX_RATE;
        }
        _stream(source, id, int96(int256(rate)));
    }

    function deposit(uint256 sourceSeed, uint256 typeSeed, uint256 amount) external clock("deposit") {
        address source = sources[sourceSeed % 3];
        bytes32 id = ids[typeSeed % 2];
        uint256 level = buffer.bufferLevel(id);
        uint256 max = buffer.bufferMax(id);
        if (level >= max) return;
        amount = bound(amount, 1, max - level < 10e18 ? max - level : 10e18);
        vm.startPrank(source);
        token.approve(address(buffer), amount);
        buffer.deposit(id, amount);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- sinks

    function declare(uint256 sinkSeed, uint256 typeSeed, uint256 capacity) external clock("declare") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = ids[typeSeed % 2];
        CapacityRegistry.SinkState memory s = registry.sinkState(id, sink);
        if (s.index == 0) return;
        if (s.lastUpdate != 0 && block.timestamp < s.lastUpdate + MIN_UPDATE_INTERVAL) {
            vm.warp(s.lastUpdate + MIN_UPDATE_INTERVAL); // waiting is part of the protocol
        }
        _declare(sink, id, bound(capacity, 0, 70));
    }

    /// @notice A sink reports its queue: its weight, and with it its share of the stream, moves.
    function reportBacklog(uint256 sinkSeed, uint256 typeSeed, uint256 backlog) external clock("reportBacklog") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = ids[typeSeed % 2];
        if (!registry.isRegistered(id, sink)) return;
        vm.prank(sink);
        registry.reportBacklog(id, bound(backlog, 0, 150));
    }

    /// @notice A sink moves cap between its task types (anywhere within the room it has: the
    /// tasks the cap not allotted to its other registrations backs at this type's stake per task).
    function setAllowance(uint256 sinkSeed, uint256 typeSeed, uint256 allowance) external clock("setAllowance") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = ids[typeSeed % 2];
        if (!registry.isRegistered(id, sink)) return;
        uint256 perTask = registry.taskType(id).stakeUnitsPerTask;
        uint256 others = registry.allocatedCapacity(sink) - uint256(registry.sinkState(id, sink).allowance) * perTask;
        uint256 cap = stakeManager.getCapacityCap(sink);
        uint256 room = cap > others ? (cap - others) / perTask : 0;
        vm.prank(sink);
        registry.setAllowance(id, bound(allowance, 0, room));
    }

    function register(uint256 sinkSeed, uint256 typeSeed) external clock("register") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = ids[typeSeed % 2];
        if (registry.isRegistered(id, sink)) return;
        if (stakeManager.getStake(sink) < MIN_SINK_STAKE) return;
        _makeRoom(sink);
        _register(sink, id);
    }

    /// @dev A sink whose cap left backs not one more task halves its first registration's
    /// allowance, so that a new registration has some of the cap to back it.
    function _makeRoom(address sink) internal {
        if (registry.allocatedCapacity(sink) + STAKE_UNITS_PER_TASK <= stakeManager.getCapacityCap(sink)) return;
        bytes32 first = registry.registrationsOf(sink)[0];
        uint256 half = registry.sinkState(first, sink).allowance / 2;
        vm.prank(sink);
        registry.setAllowance(first, half);
    }

    /// @notice Leaving never fails, whatever other task types the sink is in.
    function deregister(uint256 sinkSeed, uint256 typeSeed) external clock("deregister") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = typeSeed % 3 == 2 ? hostileId : ids[typeSeed % 2];
        if (!registry.isRegistered(id, sink)) return;
        vm.prank(sink);
        try registry.deregisterSink(id) {}
        catch (bytes memory err) {
            _unexpected(err);
        }
    }

    /// @notice A slash never fails, whatever other task types the sink is in.
    function slash(uint256 sinkSeed, uint256 amount) external clock("slash") {
        address sink = sinks[sinkSeed % 5];
        uint256 stakeAmount = stakeManager.getStake(sink);
        if (stakeAmount == 0) return;
        amount = bound(amount, 1, stakeAmount);
        vm.prank(slasher);
        try stakeManager.slash(sink, amount, "invariant") {}
        catch (bytes memory err) {
            _unexpected(err);
        }
    }

    /// @notice A sink hands pay it cannot earn back to a task type's buffer (EscrowBuffer.returnPayment):
    /// never refused, whatever the buffer's level.
    function returnPay(uint256 sinkSeed, uint256 typeSeed, uint256 amount) external clock("returnPay") {
        address sink = sinks[sinkSeed % 5];
        bytes32 id = ids[typeSeed % 2];
        uint256 balance = token.balanceOf(sink);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        vm.startPrank(sink);
        token.approve(address(buffer), amount);
        try buffer.returnPayment(id, amount) {
            ++calls["returnPay ok"];
        } catch (bytes memory err) {
            _unexpected(err);
        }
        vm.stopPrank();
    }

    /// @notice Anyone may claim a member's pool money for it (moves it from the pool to the member).
    function claim(uint256 sinkSeed, uint256 typeSeed) external clock("claim") {
        address sink = sinks[sinkSeed % 5];
        _pool(ids[typeSeed % 2]).claimAll(sink);
    }

    // ---------------------------------------------------------------- keepers and time

    function drain(uint256 typeSeed) external clock("drain") {
        try buffer.drain(ids[typeSeed % 2]) {
            ++calls["drain ok"];
        } catch (bytes memory err) {
            bytes4 sel = bytes4(err);
            if (
                sel != EscrowBuffer.NoSpareCapacity.selector && sel != EscrowBuffer.BufferEmpty.selector
                    && sel != EscrowBuffer.DrainTooSmall.selector
            ) _unexpected(err);
        }
    }

    function rebalance(uint256 typeSeed) external clock("rebalance") {
        try bpPool.rebalance(ids[typeSeed % 2]) {}
        catch (bytes memory err) {
            _unexpected(err);
        }
    }

    function updateOverflow(uint256 typeSeed) external clock("updateOverflow") {
        try bpPool.updateOverflow(ids[typeSeed % 2]) {}
        catch (bytes memory err) {
            _unexpected(err);
        }
    }

    /// @notice Steps the base fee (what the sinks absorb is priced by it), once an epoch is over.
    function advanceFee(uint256 typeSeed) external clock("advanceFee") {
        try pricing.advanceEpoch(ids[typeSeed % 2]) {
            ++calls["advanceFee ok"];
        } catch (bytes memory err) {
            if (bytes4(err) != PricingCurve.EpochNotOver.selector) _unexpected(err);
        }
    }

    function rebalancePipeline() external clock("rebalancePipeline") {
        try pipeline.rebalance(1) {}
        catch (bytes memory err) {
            _unexpected(err);
        }
    }

    // ---------------------------------------------------------------- attackers

    /// @notice Mallory prices a task type in a Super Token of her own (real host, real logic), draws
    /// a handler sink into it, and may brick the token: every call into it reverts from then on.
    function hostileTaskType(uint256 sinkSeed, uint256 capacity, bool arm) external clock("hostileTaskType") {
        if (hostileId == 0) {
            hostile = new HostileSuperToken(mallory);
            ISuperTokenFactory factory = ISuperfluid(token.getHost()).getSuperTokenFactory();
            vm.prank(mallory);
            hostile.bootstrap(factory, "Hostile", "HST", mallory, 1e24);
            _stake(mallory, MIN_SINK_STAKE);
            vm.prank(mallory);
            hostileId =
                registry.registerTaskType("hostile", ISuperToken(address(hostile)), PRICE, 1e18, STAKE_UNITS_PER_TASK);
        }
        address sink = sinks[sinkSeed % 5];
        if (
            !hostile.isArmed() && !registry.isRegistered(hostileId, sink)
                && stakeManager.getStake(sink) >= MIN_SINK_STAKE
        ) {
            _makeRoom(sink);
            _register(sink, hostileId);
            _declare(sink, hostileId, bound(capacity, 1, 5));
        }
        if (arm && !hostile.isArmed()) {
            vm.prank(mallory);
            hostile.arm();
        }
    }

    /// @notice A token whose getHost() names mallory's own host is refused outright.
    function decoyTaskType() external clock("decoyTaskType") {
        HostileSuperToken decoy = new HostileSuperToken(mallory);
        vm.startPrank(mallory);
        decoy.bootstrap(ISuperfluid(token.getHost()).getSuperTokenFactory(), "Decoy", "DCY", mallory, 1e24);
        DecoyGDA gda = new DecoyGDA(IGeneralDistributionAgreementV1(address(_gda())), mallory);
        decoy.spoofHost(address(new DecoyHost(address(gda))));
        vm.stopPrank();
        if (stakeManager.getStake(mallory) < MIN_SINK_STAKE) _stake(mallory, MIN_SINK_STAKE);
        vm.prank(mallory);
        try registry.registerTaskType(
            string.concat("decoy-", vm.toString(block.number)),
            ISuperToken(address(decoy)),
            PRICE,
            1e18,
            STAKE_UNITS_PER_TASK
        ) {
            _unexpected("a decoy-host token was accepted");
        } catch (bytes memory err) {
            if (bytes4(err) != SuperfluidBound.ForeignToken.selector) _unexpected(err);
        }
    }

    /// @notice One block: open a large stream, step the base fee, put the stream back. It pays
    /// for zero seconds and must weigh nothing (money still conserved, see the invariant).
    function flashStream(uint256 sourceSeed, uint256 typeSeed) external clock("flashStream") {
        address source = sources[sourceSeed % 3];
        bytes32 id = ids[typeSeed % 2];
        int96 before = token.getFlowDistributionFlowRate(source, _pool(id));
        uint256 feeBefore = pricing.baseFee(id);
        PricingCurve.Fee memory f = pricing.feeState(id);
        _stream(source, id, int96(int256(MAX_RATE)));
        try pricing.advanceEpoch(id) {
            // Over zero seconds the flash stream paid nothing: the fee saw only what was paid before.
            uint256 paid = bpPool.paidIn(id) - f.paidIn;
            if (f.measuredAt != 0 && pricing.baseFee(id) > feeBefore && paid == 0) {
                _unexpected("flash stream raised the fee");
            }
        } catch (bytes memory err) {
            if (bytes4(err) != PricingCurve.EpochNotOver.selector) _unexpected(err);
        }
        _stream(source, id, before);
    }

    function _gda() internal view returns (address) {
        return address(
            ISuperfluid(token.getHost())
                .getAgreementClass(keccak256("org.superfluid-finance.agreements.GeneralDistributionAgreement.v1"))
        );
    }

    function warp(uint256 secs) external clock("warp") {
        vm.warp(block.timestamp + bound(secs, 1, 2 hours));
        vm.roll(block.number + 1);
    }

    // ---------------------------------------------------------------- accounting views

    /// @notice Every quantity the conservation identities need, each read once (Superfluid views
    /// are the expensive part of an invariant step).
    struct Snapshot {
        uint256 paidBySources; // funds minus what they still hold (available + stream deposits)
        int256 sourceHoldings;
        uint256 sinksReceived; // from both pools, claimed or not
        uint256 sinksBalance;
        uint256 sinksClaimable;
        uint256 sinksReturned; // handed back to the buffer (returnPayment)
        uint256 sinkMismatches; // sinks whose balance + claimable + returned != received
        uint256 bufferBalance;
        uint256 bufferClaimable; // its overflow still in the pools
        uint256 bufferLevels; // sum of bufferLevel over both task types
        uint256 adminBalance; // GDA remainder the PoolAdmins hold, not swept yet
        int256 poolHoldings; // what the pools themselves hold (for disconnected members)
        uint256 poolMismatches; // pools whose holding != their members' claimable
    }

    function snapshot() external view returns (Snapshot memory s) {
        for (uint256 j; j < 3; ++j) {
            int256 h = _holding(sources[j]);
            s.sourceHoldings += h;
            s.paidBySources += SOURCE_FUNDS - uint256(h);
        }
        uint256[2] memory claimableInPool;
        for (uint256 i; i < 5; ++i) {
            uint256 received;
            uint256 claimable;
            uint256 returned;
            for (uint256 t; t < 2; ++t) {
                received += _received(ids[t], sinks[i]);
                uint256 c = _claimable(ids[t], sinks[i]);
                claimable += c;
                claimableInPool[t] += c;
                returned += buffer.returnedBy(ids[t], sinks[i]);
            }
            uint256 balance = token.balanceOf(sinks[i]);
            if (balance + claimable + returned != received) ++s.sinkMismatches;
            s.sinksReturned += returned;
            s.sinksReceived += received;
            s.sinksClaimable += claimable;
            s.sinksBalance += balance;
        }
        for (uint256 t; t < 2; ++t) {
            uint256 c = _claimable(ids[t], address(buffer));
            s.bufferClaimable += c;
            claimableInPool[t] += c;
            int256 held = _holding(address(_pool(ids[t])));
            s.poolHoldings += held;
            if (held != int256(claimableInPool[t])) ++s.poolMismatches;
            s.bufferLevels += buffer.bufferLevel(ids[t]);
        }
        s.bufferBalance = token.balanceOf(address(buffer));
        s.adminBalance = token.balanceOf(address(bpPool.poolInfo(ids[0]).admin))
            + token.balanceOf(address(bpPool.poolInfo(ids[1]).admin));
    }

    function paidBySources() external view returns (uint256 paid) {
        for (uint256 j; j < 3; ++j) {
            paid += SOURCE_FUNDS - uint256(_holding(sources[j]));
        }
    }

    function returnedBySinks() external view returns (uint256 total) {
        for (uint256 i; i < 5; ++i) {
            for (uint256 t; t < 2; ++t) {
                total += buffer.returnedBy(ids[t], sinks[i]);
            }
        }
    }

    function receivedBySinks() external view returns (uint256 total) {
        for (uint256 i; i < 5; ++i) {
            for (uint256 t; t < 2; ++t) {
                total += _received(ids[t], sinks[i]);
            }
        }
    }
}
