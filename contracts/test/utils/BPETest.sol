// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {
    ERC1820RegistryCompiled
} from "@superfluid-finance/ethereum-contracts/contracts/libs/ERC1820RegistryCompiled.sol";
import {
    SuperfluidFrameworkDeployer
} from "@superfluid-finance/ethereum-contracts/contracts/utils/SuperfluidFrameworkDeployer.t.sol";
import {TestToken} from "@superfluid-finance/ethereum-contracts/contracts/utils/TestToken.sol";
import {SuperToken} from "@superfluid-finance/ethereum-contracts/contracts/superfluid/SuperToken.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {SuperTokenV1Library} from "@superfluid-finance/ethereum-contracts/contracts/apps/SuperTokenV1Library.sol";
import {StakeManager} from "../../src/StakeManager.sol";
import {CapacityRegistry} from "../../src/CapacityRegistry.sol";
import {BackpressurePool} from "../../src/BackpressurePool.sol";
import {EscrowBuffer} from "../../src/EscrowBuffer.sol";
import {Pipeline} from "../../src/Pipeline.sol";
import {PricingCurve} from "../../src/PricingCurve.sol";
import {OffchainAggregator} from "../../src/OffchainAggregator.sol";
import {CompletionTracker} from "../../src/CompletionTracker.sol";
import {ICapacityRegistry} from "../../src/interfaces/ICapacityRegistry.sol";
import {IBackpressureHooks} from "../../src/interfaces/IBackpressureHooks.sol";

/// @notice Fixture for every BPE test: the real Superfluid framework, a wrapper Super Token, and
/// the eight BPE contracts wired through their constructors (addresses predicted from nonces, so
/// there are no setters to attack). Helpers drive sinks and sources the way users would.
abstract contract BPETest is Test {
    using SuperTokenV1Library for ISuperToken;

    // Deployment constants (SPEC defaults; the stake unit and minimum as in the seeds).
    uint256 internal constant STAKE_UNIT = 1e18;
    uint256 internal constant MIN_SINK_STAKE = 100e18;
    uint64 internal constant UNBONDING = 1 days;
    uint256 internal constant EWMA_ALPHA_BPS = 3000;
    uint256 internal constant COMMIT_TIMEOUT = 20;
    uint256 internal constant MIN_UPDATE_INTERVAL = 60;
    uint256 internal constant MAX_TASK_TYPES_PER_SINK = 8;
    uint256 internal constant UNIT_SCALE = 1000;
    uint256 internal constant REBALANCE_THRESHOLD_BPS = 500;
    uint256 internal constant EPOCH = 300;
    uint256 internal constant DRAIN_WINDOW = 300;
    uint256 internal constant PRICE = 1e15; // token wei per task
    uint256 internal constant QUEUE_PREMIUM_BPS = 10_000; // gamma = 1
    uint256 internal constant TARGET_UTILIZATION_BPS = 8_000;
    uint256 internal constant MAX_FEE_STEP_BPS = 1_250;
    uint256 internal constant FEE_FLOOR_BPS = 1_000;
    uint256 internal constant FEE_CEILING_BPS = 100_000;
    uint256 internal constant ATTESTATION_MAX_AGE = 600;
    uint256 internal constant ATTESTATION_MAX_SKEW = 30;
    uint256 internal constant RECEIPT_GRACE = 60;
    /// @dev Stake units backing one task/epoch of capacity in the fixture's task types: with a
    /// 1e18 stake unit, 400 tokens back 20 tasks/epoch, 900 back 45, 1600 back 80, and one task of
    /// shortfall costs 20 tokens under the shortfall rule.
    uint256 internal constant STAKE_UNITS_PER_TASK = 20;

    SuperfluidFrameworkDeployer.Framework internal sf;
    TestToken internal underlying;
    ISuperToken internal token;
    TestToken internal stakeToken;

    StakeManager internal stakeManager;
    CapacityRegistry internal registry;
    BackpressurePool internal bpPool;
    EscrowBuffer internal buffer;
    Pipeline internal pipeline;
    PricingCurve internal pricing;
    OffchainAggregator internal aggregator;
    CompletionTracker internal tracker;

    /// @notice Every deployed contract, so handler contracts (which are BPETests too) can drive
    /// the very deployment of the test that created them instead of a copy.
    struct Deployment {
        TestToken underlying;
        ISuperToken token;
        TestToken stakeToken;
        StakeManager stakeManager;
        CapacityRegistry registry;
        BackpressurePool bpPool;
        EscrowBuffer buffer;
        Pipeline pipeline;
        PricingCurve pricing;
        OffchainAggregator aggregator;
        CompletionTracker tracker;
    }

    /// @notice The StakeManager's only slasher: the CompletionTracker (set at deployment).
    address internal slasher;
    address internal treasury = makeAddr("treasury");
    address internal creator = makeAddr("creator");

    function setUp() public virtual {
        vm.etch(ERC1820RegistryCompiled.ADDRESS, ERC1820RegistryCompiled.BYTECODE);
        SuperfluidFrameworkDeployer deployer = new SuperfluidFrameworkDeployer();
        deployer.deployTestFramework();
        sf = deployer.getFramework();
        SuperToken superToken;
        (underlying, superToken) = deployer.deployWrapperSuperToken("Test", "TST", 18, type(uint256).max, address(0));
        token = ISuperToken(address(superToken));
        stakeToken = new TestToken("Stake", "STK", 18, type(uint256).max);
        _deployBPE();
    }

    function _deployBPE() internal {
        uint256 nonce = vm.getNonce(address(this));
        address registryAddr = vm.computeCreateAddress(address(this), nonce + 1);
        address poolAddr = vm.computeCreateAddress(address(this), nonce + 2);
        address bufferAddr = vm.computeCreateAddress(address(this), nonce + 3);
        address pipelineAddr = vm.computeCreateAddress(address(this), nonce + 4);
        address pricingAddr = vm.computeCreateAddress(address(this), nonce + 5);
        address aggregatorAddr = vm.computeCreateAddress(address(this), nonce + 6);
        slasher = vm.computeCreateAddress(address(this), nonce + 7);
        stakeManager = new StakeManager(
            IERC20(address(stakeToken)),
            ICapacityRegistry(registryAddr),
            slasher,
            treasury,
            STAKE_UNIT,
            MIN_SINK_STAKE,
            UNBONDING
        );
        registry = new CapacityRegistry(
            stakeManager,
            IBackpressureHooks(poolAddr),
            aggregatorAddr,
            CapacityRegistry.Params({
                ewmaAlphaBps: EWMA_ALPHA_BPS,
                commitTimeout: COMMIT_TIMEOUT,
                minUpdateInterval: MIN_UPDATE_INTERVAL,
                maxTaskTypesPerSink: MAX_TASK_TYPES_PER_SINK,
                queuePremiumBps: QUEUE_PREMIUM_BPS,
                rebalanceThresholdBps: REBALANCE_THRESHOLD_BPS
            })
        );
        bpPool = new BackpressurePool(
            sf.host, registry, EscrowBuffer(bufferAddr), pipelineAddr, PricingCurve(pricingAddr), UNIT_SCALE, EPOCH
        );
        buffer = new EscrowBuffer(sf.host, registry, bpPool, DRAIN_WINDOW);
        pipeline = new Pipeline(registry, bpPool);
        pricing = new PricingCurve(
            registry, bpPool, EPOCH, TARGET_UTILIZATION_BPS, MAX_FEE_STEP_BPS, FEE_FLOOR_BPS, FEE_CEILING_BPS
        );
        aggregator = new OffchainAggregator(registry, ATTESTATION_MAX_AGE, ATTESTATION_MAX_SKEW);
        tracker = new CompletionTracker(
            sf.host, registry, bpPool, stakeManager, buffer, pricing, EPOCH, RECEIPT_GRACE, _verificationRule()
        );
        assertEq(address(registry), registryAddr, "registry address");
        assertEq(address(bpPool), poolAddr, "pool address");
        assertEq(address(buffer), bufferAddr, "buffer address");
        assertEq(address(pipeline), pipelineAddr, "pipeline address");
        assertEq(address(pricing), pricingAddr, "pricing address");
        assertEq(address(aggregator), aggregatorAddr, "aggregator address");
        assertEq(address(tracker), slasher, "tracker address");
    }

    /// @notice The verification rule the fixture deploys: the shortfall penalty (the default);
    /// suites about the seeds' strike rule override this.
    function _verificationRule() internal pure virtual returns (CompletionTracker.Rule) {
        return CompletionTracker.Rule.Shortfall;
    }

    function deployment() external view returns (Deployment memory) {
        return Deployment(
            underlying,
            token,
            stakeToken,
            stakeManager,
            registry,
            bpPool,
            buffer,
            pipeline,
            pricing,
            aggregator,
            tracker
        );
    }

    /// @notice Points this instance (an invariant handler) at another fixture's deployment.
    function _adopt(Deployment memory d) internal {
        underlying = d.underlying;
        token = d.token;
        stakeToken = d.stakeToken;
        stakeManager = d.stakeManager;
        registry = d.registry;
        bpPool = d.bpPool;
        buffer = d.buffer;
        pipeline = d.pipeline;
        pricing = d.pricing;
        aggregator = d.aggregator;
        tracker = d.tracker;
        slasher = address(d.tracker);
    }

    // ---------------------------------------------------------------- actors

    function _stake(address who, uint256 amount) internal {
        stakeToken.mint(who, amount);
        vm.startPrank(who);
        stakeToken.approve(address(stakeManager), amount);
        stakeManager.stake(amount);
        vm.stopPrank();
    }

    /// @notice A task type created by `creator` with the default price.
    function _taskType(string memory name, uint256 maxBuffer) internal returns (bytes32 id) {
        if (stakeManager.getStake(creator) < MIN_SINK_STAKE) _stake(creator, MIN_SINK_STAKE);
        vm.prank(creator);
        id = registry.registerTaskType(name, token, PRICE, maxBuffer, STAKE_UNITS_PER_TASK);
    }

    /// @notice A task type created by `who` (who must hold the minimum stake) with a given price.
    function _taskTypeBy(address who, string memory name, uint256 price, uint256 maxBuffer)
        internal
        returns (bytes32 id)
    {
        vm.prank(who);
        id = registry.registerTaskType(name, token, price, maxBuffer, STAKE_UNITS_PER_TASK);
    }

    /// @notice A sink with `stakeAmount` staked, registered in `id` and connected to its pool.
    function _sink(string memory name, bytes32 id, uint256 stakeAmount) internal returns (address sink) {
        sink = _sinkUnconnected(name, id, stakeAmount);
        _connect(sink, id);
    }

    /// @notice A registered sink that never connects: its pool money waits in the pool as claimable.
    function _sinkUnconnected(string memory name, bytes32 id, uint256 stakeAmount) internal returns (address sink) {
        sink = makeAddr(name);
        _stake(sink, stakeAmount);
        _register(sink, id);
    }

    function _register(address sink, bytes32 id) internal {
        vm.prank(sink);
        registry.registerSink(id);
    }

    function _deregister(address sink, bytes32 id) internal {
        vm.prank(sink);
        registry.deregisterSink(id);
    }

    function _connect(address who, bytes32 id) internal {
        vm.startPrank(who);
        token.connectPool(ISuperfluidPool(bpPool.getPool(id)));
        vm.stopPrank();
    }

    /// @notice Commit, wait one block, reveal: the honest path of a capacity declaration.
    function _declare(address sink, bytes32 id, uint256 capacity) internal {
        bytes32 nonce = _commit(sink, id, capacity);
        vm.roll(block.number + 1);
        vm.prank(sink);
        registry.revealCapacity(id, capacity, nonce);
    }

    /// @notice Commits `capacity` for `sink` with a fresh nonce; returns the nonce to reveal with.
    function _commit(address sink, bytes32 id, uint256 capacity) internal returns (bytes32 nonce) {
        nonce = keccak256(abi.encode(sink, id, capacity, block.number, block.timestamp));
        bytes32 commitHash = registry.commitmentHash(sink, id, capacity, nonce);
        vm.prank(sink);
        registry.commitCapacity(id, commitHash);
    }

    /// @notice Declares `capacity` repeatedly (respecting the rate limit) until the EWMA reaches it.
    function _declareUntilSettled(address sink, bytes32 id, uint256 capacity) internal {
        for (uint256 i; i < 200 && registry.getSmoothedCapacity(id, sink) != capacity; ++i) {
            _declare(sink, id, capacity);
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        }
        assertEq(registry.getSmoothedCapacity(id, sink), capacity, "EWMA settled");
    }

    /// @notice The market most tests start from: sinks "a", "b", "c" with stakes 400/900/1600
    /// (caps 20/45/80 tasks/epoch) registered in a new task type and settled at capacities 10/20/30.
    function _market123(string memory name, uint256 maxBuffer)
        internal
        returns (bytes32 id, address a, address b, address c)
    {
        id = _taskType(name, maxBuffer);
        a = _sink("a", id, 400e18);
        b = _sink("b", id, 900e18);
        c = _sink("c", id, 1600e18);
        _declareUntilSettled(a, id, 10);
        _declareUntilSettled(b, id, 20);
        _declareUntilSettled(c, id, 30);
    }

    /// @notice A funded source streaming `rate` wei/s into the task type's pool.
    function _source(string memory name, uint256 funds) internal returns (address source) {
        source = makeAddr(name);
        underlying.mint(source, funds);
        vm.startPrank(source);
        underlying.approve(address(token), funds);
        token.upgrade(funds);
        vm.stopPrank();
    }

    function _stream(address source, bytes32 id, int96 rate) internal {
        vm.startPrank(source);
        token.distributeFlow(source, ISuperfluidPool(bpPool.getPool(id)), rate);
        vm.stopPrank();
    }

    /// @notice Absorbable payment rate (wei/s) of `capacity` tasks per epoch.
    function _rateOf(uint256 capacity) internal pure returns (uint256) {
        return capacity * PRICE / EPOCH;
    }

    function _pool(bytes32 id) internal view returns (ISuperfluidPool) {
        return ISuperfluidPool(bpPool.getPool(id));
    }

    /// @notice Everything a member has received from the pool (claimed or not).
    function _received(bytes32 id, address member) internal view returns (uint256) {
        return _pool(id).getTotalAmountReceivedByMember(member);
    }

    /// @notice What a member could claim from the pool now (its money still held by the pool).
    function _claimable(bytes32 id, address member) internal view returns (uint256) {
        (int256 amount,) = _pool(id).getClaimableNow(member);
        return amount > 0 ? uint256(amount) : 0;
    }

    function _units(bytes32 id, address member) internal view returns (uint256) {
        return _pool(id).getUnits(member);
    }

    /// @notice The rate (wei/s) the pool pays `member` now.
    function _memberRate(bytes32 id, address member) internal view returns (uint256) {
        int96 rate = _pool(id).getMemberFlowRate(member);
        return rate > 0 ? uint256(int256(rate)) : 0;
    }

    /// @notice The rate (wei/s) the pool pays all registered sinks of `id` together.
    function _sinksRate(bytes32 id) internal view returns (uint256 total) {
        address[] memory sinks = registry.sinksOf(id);
        for (uint256 i; i < sinks.length; ++i) {
            total += _memberRate(id, sinks[i]);
        }
    }

    /// @notice The GDA's rounding remainder for the pool (wei/s), flowing to its admin.
    function _adjustmentRate(bytes32 id) internal view returns (uint256) {
        int96 rate = token.getPoolAdjustmentFlowRate(_pool(id));
        return rate > 0 ? uint256(int256(rate)) : 0;
    }

    /// @notice An account's whole Super Token holding now: available balance plus the deposit
    /// Superfluid locks for its outgoing streams (negative only for an insolvent account).
    function _holding(address who) internal view returns (int256) {
        (int256 available, uint256 deposit,,) = token.realtimeBalanceOfNow(who);
        return available + int256(deposit);
    }

    /// @notice Declares a stream's rate for `capacity` tasks per epoch (a convenience for int96).
    function _rate(uint256 capacity) internal pure returns (int96) {
        return int96(int256(_rateOf(capacity)));
    }

    // ---------------------------------------------------------------- signed messages (issue 4)

    /// @notice The private key behind `makeAddr(name)` (forge-std derives it from the name), so a
    /// sink or source created by `_sink`/`_source` can sign.
    function _keyOf(string memory name) internal pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(name)));
    }

    /// @notice `_sink` (staked, registered, connected) plus the key that signs for it.
    function _keyedSink(string memory name, bytes32 id, uint256 stakeAmount)
        internal
        returns (address sink, uint256 key)
    {
        sink = _sink(name, id, stakeAmount);
        key = _keyOf(name);
        assertEq(vm.addr(key), sink, "keyed sink");
    }

    /// @notice `_source` (funded with Super Tokens) plus the key that signs for it.
    function _keyedSource(string memory name, uint256 funds) internal returns (address source, uint256 key) {
        source = _source(name, funds);
        key = _keyOf(name);
        assertEq(vm.addr(key), source, "keyed source");
    }

    /// @notice EIP-2098 compact signature: vs = s | (v - 27) << 255.
    function _signCompact(uint256 key, bytes32 digest) internal pure returns (bytes32 r, bytes32 vs) {
        (uint8 v, bytes32 r_, bytes32 s) = vm.sign(key, digest);
        r = r_;
        vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
    }

    /// @notice 65-byte (r, s, v) signature, as SignatureChecker expects for an EOA.
    function _sign65(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice A signed capacity attestation as a relayer holds it: the EIP-712 fields and the
    /// EIP-2098 compact signature. `_pack` turns a list into the aggregator's packed batch.
    struct Attestation {
        bytes32 taskTypeId;
        address sink;
        uint64 capacity; // tasks per epoch
        uint64 backlog; // tasks waiting
        uint32 nonce; // strictly increasing per (task type, sink)
        uint64 timestamp; // when the sink signed
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A capacity attestation signed (compact) by `key` over the aggregator's EIP-712 digest.
    function _attestation(
        uint256 key,
        bytes32 id,
        address sink,
        uint256 capacity,
        uint256 backlog,
        uint256 nonce,
        uint256 timestamp
    ) internal view returns (Attestation memory a) {
        a = Attestation({
            taskTypeId: id,
            sink: sink,
            capacity: uint64(capacity),
            backlog: uint64(backlog),
            nonce: uint32(nonce),
            timestamp: uint64(timestamp),
            r: bytes32(0),
            vs: bytes32(0)
        });
        (a.r, a.vs) = _signCompact(key, _digest(aggregator, a));
    }

    /// @notice The EIP-712 digest `agg` expects a sink to sign for `a` (signature fields ignored).
    function _digest(OffchainAggregator agg, Attestation memory a) internal view returns (bytes32) {
        return agg.attestationDigest(a.taskTypeId, a.sink, a.capacity, a.backlog, a.nonce, a.timestamp);
    }

    /// @notice The aggregator's packed batch, in order: consecutive items of one task type share
    /// a group header (task type, count), as the TypeScript relayer encodes it.
    function _pack(Attestation[] memory items) internal pure returns (bytes memory batch) {
        uint256 i;
        while (i < items.length) {
            uint256 end = i + 1;
            while (end < items.length && items[end].taskTypeId == items[i].taskTypeId && end - i < type(uint16).max) {
                ++end;
            }
            batch = abi.encodePacked(batch, items[i].taskTypeId, uint16(end - i));
            for (; i < end; ++i) {
                Attestation memory x = items[i];
                batch = abi.encodePacked(batch, x.sink, x.capacity, x.backlog, x.nonce, x.timestamp, x.r, x.vs);
            }
        }
    }

    /// @notice A one-item batch.
    function _one(Attestation memory x) internal pure returns (Attestation[] memory items) {
        items = new Attestation[](1);
        items[0] = x;
    }

    /// @notice Relays a one-item batch; returns how many were accepted (0 or 1).
    function _attest(uint256 key, bytes32 id, address sink, uint256 capacity, uint256 backlog, uint256 nonce)
        internal
        returns (uint256 accepted)
    {
        accepted = aggregator.submitAttestations(_pack(_one(_attestation(key, id, sink, capacity, backlog, nonce, block.timestamp))));
    }

    /// @notice The registry's side alone (the caller pranks as the aggregator): one record.
    function _applyOne(bytes32 id, address sink, uint256 capacity, uint256 backlog, uint32 nonce)
        internal
        returns (ICapacityRegistry.Rejection)
    {
        (uint256 applied, bytes memory outcomes) =
            registry.applyAttestations(id, abi.encodePacked(sink, uint64(capacity), uint64(backlog), nonce));
        assertEq(outcomes.length, 1, "one outcome per record");
        assertEq(applied, outcomes[0] == 0 ? 1 : 0, "applied counts the records without a rejection");
        return ICapacityRegistry.Rejection(uint8(outcomes[0]));
    }

    function _receipt(bytes32 taskId, bytes32 id, address sink, address source, uint256 completedAt, uint256 deadline)
        internal
        pure
        returns (CompletionTracker.Receipt memory)
    {
        return CompletionTracker.Receipt({
            taskId: taskId,
            taskTypeId: id,
            sink: sink,
            source: source,
            completedAt: uint64(completedAt),
            deadline: uint64(deadline)
        });
    }

    /// @notice Both signatures of a completion receipt, 65 bytes each: the sink's over the
    /// completion, the source's over the request.
    function _signReceipt(uint256 sinkKey, uint256 sourceKey, CompletionTracker.Receipt memory r)
        internal
        view
        returns (bytes memory sinkSig, bytes memory sourceSig)
    {
        sinkSig = _sign65(sinkKey, tracker.completionDigest(r));
        sourceSig = _sign65(sourceKey, tracker.requestDigest(r));
    }

    /// @notice Records `count` completions by `sink` for `source`, completed now (task ids derived
    /// from `salt`, so distinct calls with distinct salts never collide).
    function _complete(
        bytes32 id,
        address sink,
        uint256 sinkKey,
        address source,
        uint256 sourceKey,
        uint256 count,
        uint256 salt
    ) internal {
        for (uint256 i; i < count; ++i) {
            CompletionTracker.Receipt memory r = _receipt(
                keccak256(abi.encode(salt, i)), id, sink, source, block.timestamp, block.timestamp + 1 hours
            );
            (bytes memory sinkSig, bytes memory sourceSig) = _signReceipt(sinkKey, sourceKey, r);
            tracker.recordCompletion(r, sinkSig, sourceSig);
        }
    }
}
