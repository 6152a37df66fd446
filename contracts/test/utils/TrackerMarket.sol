// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {BPETest} from "./BPETest.sol";

/// @notice The market the verification suites start from: one task type, sink "a" (400 tokens
/// staked, settled at 10 tasks/epoch, 10,000 units) and source "src" with keys to sign, the clock
/// at the first second an epoch can be judged.
abstract contract TrackerMarket is BPETest {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant STAKE = 400e18; // 400 units: 20 tasks/epoch

    bytes32 internal id;
    address internal a;
    uint256 internal aKey;
    address internal src;
    uint256 internal srcKey;
    uint256 internal e0; // the epoch the test's window opens in
    uint256 internal salt; // distinct task ids across _complete calls

    function setUp() public virtual override {
        super.setUp();
        id = _taskType("llm", 1_000e18);
        (a, aKey) = _keyedSink("a", id, STAKE);
        _declareUntilSettled(a, id, 10);
        bpPool.rebalance(id);
        assertEq(_units(id, a), 10_000);
        (src, srcKey) = _keyedSource("src", 1e24);
        _toEpochStart();
        e0 = block.timestamp / EPOCH;
    }

    /// @notice Moves to the first second at which the epoch that just ended can be judged: the
    /// next epoch boundary plus the receipt grace. Windows opened and judged at such moments span
    /// exactly one epoch of payments.
    function _toEpochStart() internal {
        vm.warp((block.timestamp / EPOCH + 1) * EPOCH + RECEIPT_GRACE);
    }
}
