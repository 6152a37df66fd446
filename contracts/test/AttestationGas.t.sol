// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {console} from "forge-std/console.sol";
import {BPETest} from "./utils/BPETest.sol";
import {OffchainAggregator} from "../src/OffchainAggregator.sol";

/// @notice Gas of a relayed batch of 50 attestations inside the deadband (no unit push), the
/// case `bench:gas` reports as `submitAttestations_50`: calldata plus execution per item, with
/// its two halves (the aggregator's checks, the registry's records) logged. A regression bound,
/// not the benchmark: the benchmark measures whole transactions on anvil.
contract AttestationGasTest is BPETest {
    uint256 internal constant N = 50;
    bytes32 internal id;
    address[] internal sinks;
    uint256[] internal keys;
    bytes internal batch;
    bytes internal records;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = _taskType("llm", 1_000e18);
        for (uint256 i; i < N; ++i) {
            (address s, uint256 k) = _keyedSink(string.concat("s", vm.toString(i)), id, 10_000e18);
            sinks.push(s);
            keys.push(k);
        }
        // Settle every sink at 50 (EWMA steps one batch a minute), units exact.
        uint32 nonce;
        for (; nonce < 40; ++nonce) {
            aggregator.submitAttestations(_pack(_round(50, nonce + 1)));
            vm.warp(block.timestamp + MIN_UPDATE_INTERVAL);
        }
        bpPool.rebalance(id);
        // 50 -> 49 declared: smoothed 49, inside the deadband.
        Attestation[] memory items = _round(49, nonce + 1);
        batch = _pack(items);
        for (uint256 i; i < N; ++i) {
            records = abi.encodePacked(records, items[i].sink, items[i].capacity, items[i].backlog, items[i].nonce);
        }
    }

    function _round(uint256 capacity, uint256 nonce) internal view returns (Attestation[] memory items) {
        items = new Attestation[](N);
        for (uint256 i; i < N; ++i) items[i] = _attestation(keys[i], id, sinks[i], capacity, 0, nonce, block.timestamp);
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i; i < data.length; ++i) g += data[i] == 0 ? 4 : 16;
    }

    function test_gas_batchOf50_insideTheDeadband() public {
        bytes memory b = batch;
        uint256 calldataGas = _calldataGas(abi.encodeCall(OffchainAggregator.submitAttestations, (b)));
        uint256 g = gasleft();
        assertEq(aggregator.submitAttestations(b), N);
        g -= gasleft();
        console.log("per attestation: execution", g / N, "calldata", calldataGas / N);
        console.log("per attestation: total", (g + calldataGas) / N);
        assertLt((g + calldataGas) / N, 14_000, "gas per relayed attestation");
    }

    function test_gas_registryRecordsOf50() public {
        bytes memory r = records;
        vm.prank(address(aggregator));
        uint256 g = gasleft();
        (uint256 applied,) = registry.applyAttestations(id, r);
        g -= gasleft();
        assertEq(applied, N);
        console.log("registry per record (cold slot read and write: 5,000)", g / N);
    }
}
