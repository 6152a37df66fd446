// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";

/// @title OffchainAggregator: capacity attestations signed off chain, relayed in batches by anyone.
/// @notice A sink signs an EIP-712 CapacityAttestation (task type, sink, capacity, backlog, nonce,
/// timestamp) whenever its load changes; any relayer (the capacity oracle, the sink itself, a
/// stranger) submits many in one transaction. There is no privileged aggregator to front-run into
/// place. Each item is checked on its own: freshness both ways, the signature (non-reverting
/// recovery), then, in the registry, a strictly increasing nonce and the same stake cap, EWMA and
/// rate limit as commit-reveal. A bad item is skipped with an `AttestationRejected` event and never
/// reverts the batch. A sink can always fall back to commit-reveal, so a relayer cannot censor it.
/// @dev Gas: a relayed attestation should cost little more than its signature check and its
/// registration's one storage slot. So the batch is packed calldata (an ABI-encoded struct array
/// spends 256 bytes per item, mostly zero padding, plus 32 bytes of task type that a batch
/// repeats), the EIP-712 digest and the ecrecover call are written in assembly with the domain
/// separator read once per batch, and each task type's verified items go to the registry in one
/// call instead of one call per item. What is signed is unchanged: the typed struct and domain
/// above, with EIP-2098 compact signatures (r, yParityAndS).
///
/// Batch layout (big-endian, no padding): one or more groups, each
/// `taskTypeId (32) | count (2) | count items`, each item 112 bytes:
/// `sink (20) | capacity (8) | backlog (8) | nonce (4) | timestamp (8) | r (32) | yParityAndS (32)`.
/// An item's first 40 bytes are the record the registry applies (ICapacityRegistry.applyAttestations).
contract OffchainAggregator is EIP712 {
    event AttestationRejected(
        bytes32 indexed taskTypeId, address indexed sink, uint256 nonce, ICapacityRegistry.Rejection reason
    );
    event AttestationsSubmitted(address indexed relayer, uint256 accepted, uint256 rejected);

    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "CapacityAttestation(bytes32 taskTypeId,address sink,uint64 capacity,uint64 backlog,uint32 nonce,uint64 timestamp)"
    );

    /// @notice Bytes of a group header: task type (32) and item count (2).
    uint256 public constant GROUP_HEADER_BYTES = 34;
    /// @notice Bytes of one packed item (see the contract's notes).
    uint256 public constant ITEM_BYTES = 112;
    /// @dev The item's prefix the registry applies: sink, capacity, backlog, nonce.
    uint256 internal constant _RECORD_BYTES = 40;
    /// @dev secp256k1 order / 2: a larger s is the malleable twin of a valid signature (EIP-2).
    uint256 internal constant _HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    ICapacityRegistry public immutable registry;
    /// @notice Oldest an attestation may be when it lands.
    uint256 public immutable maxAge;
    /// @notice How far ahead of the chain's clock a signer's clock may run.
    uint256 public immutable maxSkew;

    error InvalidParameters();
    /// @notice The batch does not split into whole groups (a relayer's encoding error, not an item's).
    error MalformedBatch(uint256 offset);

    constructor(ICapacityRegistry registry_, uint256 maxAge_, uint256 maxSkew_) EIP712("BPE OffchainAggregator", "1") {
        // An attestation must be able to live long enough to be relayed.
        if (maxAge_ == 0) revert InvalidParameters();
        registry = registry_;
        maxAge = maxAge_;
        maxSkew = maxSkew_;
    }

    /// @notice Applies every valid attestation of the packed batch; returns how many were accepted.
    /// @dev Reverts only if the batch is not whole groups (`MalformedBatch`) or the caller sends
    /// too little gas for a unit push (the registry's `InsufficientGas`).
    function submitAttestations(bytes calldata batch) external returns (uint256 accepted) {
        bytes32 domain = _domainSeparatorV4();
        uint256 total;
        uint256 offset;
        while (offset < batch.length) {
            if (batch.length - offset < GROUP_HEADER_BYTES) revert MalformedBatch(offset);
            bytes32 taskTypeId = bytes32(batch[offset:offset + 32]);
            uint256 count = uint16(bytes2(batch[offset + 32:offset + GROUP_HEADER_BYTES]));
            uint256 start = offset + GROUP_HEADER_BYTES;
            offset = start + count * ITEM_BYTES;
            if (offset > batch.length) revert MalformedBatch(start - GROUP_HEADER_BYTES);
            accepted += _submitGroup(domain, taskTypeId, batch[start:offset], count);
            total += count;
        }
        emit AttestationsSubmitted(msg.sender, accepted, total - accepted);
    }

    /// @notice The EIP-712 digest a sink signs for these fields.
    function attestationDigest(
        bytes32 taskTypeId,
        address sink,
        uint64 capacity,
        uint64 backlog,
        uint32 nonce,
        uint64 timestamp
    ) external view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ATTESTATION_TYPEHASH, taskTypeId, sink, capacity, backlog, nonce, timestamp))
        );
    }

    /// @dev Checks the group's items here, hands the verified ones to the registry in one call,
    /// then reports every rejected item in order.
    function _submitGroup(bytes32 domain, bytes32 taskTypeId, bytes calldata items, uint256 count)
        internal
        returns (uint256 accepted)
    {
        bytes memory reasons = new bytes(count);
        bytes memory records = new bytes(count * _RECORD_BYTES);
        uint256 verified;
        for (uint256 i; i < count; ++i) {
            uint256 item;
            assembly ("memory-safe") {
                item := add(items.offset, mul(i, ITEM_BYTES))
            }
            ICapacityRegistry.Rejection reason = _check(domain, taskTypeId, item);
            if (reason != ICapacityRegistry.Rejection.None) {
                reasons[i] = bytes1(uint8(reason));
                continue;
            }
            assembly ("memory-safe") {
                calldatacopy(add(add(records, 0x20), mul(verified, _RECORD_BYTES)), item, _RECORD_BYTES)
            }
            ++verified;
        }
        if (verified == 0) {
            _reportRejected(taskTypeId, items, reasons, reasons, count);
            return 0;
        }
        assembly ("memory-safe") {
            mstore(records, mul(verified, _RECORD_BYTES))
        }
        (uint256 applied, bytes memory outcomes) = registry.applyAttestations(taskTypeId, records);
        // Every item landed: nothing to report.
        if (applied == count) return count;
        return _reportRejected(taskTypeId, items, reasons, outcomes, count);
    }

    /// @dev Emits `AttestationRejected` for every item the checks here (`reasons`) or the registry
    /// (`outcomes`, one per item that passed here, in order) refused; returns how many landed.
    function _reportRejected(
        bytes32 taskTypeId,
        bytes calldata items,
        bytes memory reasons,
        bytes memory outcomes,
        uint256 count
    ) internal returns (uint256 accepted) {
        uint256 next;
        for (uint256 i; i < count; ++i) {
            uint8 reason = uint8(reasons[i]);
            if (reason == 0) reason = uint8(outcomes[next++]);
            if (reason == 0) {
                ++accepted;
                continue;
            }
            uint256 at = i * ITEM_BYTES;
            address sink = address(bytes20(items[at:at + 20]));
            uint32 nonce = uint32(bytes4(items[at + 36:at + 40]));
            emit AttestationRejected(taskTypeId, sink, nonce, ICapacityRegistry.Rejection(reason));
        }
    }

    /// @dev Freshness, then the signature: the EIP-712 digest of the item's fields and one
    /// ecrecover. A recovery that fails, a high s (the malleable twin) or another signer is a
    /// BadSignature, never a revert.
    function _check(bytes32 domain, bytes32 taskTypeId, uint256 item)
        internal
        view
        returns (ICapacityRegistry.Rejection)
    {
        uint256 age = maxAge;
        uint256 skew = maxSkew;
        bytes32 typehash = ATTESTATION_TYPEHASH;
        bool stale;
        bool future;
        assembly ("memory-safe") {
            let signedAt := shr(192, calldataload(add(item, 40)))
            // signedAt + maxAge < now and signedAt > now + maxSkew, written so nothing overflows
            stale := and(gt(timestamp(), signedAt), gt(sub(timestamp(), signedAt), age))
            future := and(gt(signedAt, timestamp()), gt(sub(signedAt, timestamp()), skew))
        }
        if (stale) return ICapacityRegistry.Rejection.Stale;
        if (future) return ICapacityRegistry.Rejection.FromTheFuture;
        bool valid;
        assembly ("memory-safe") {
            let signedAt := shr(192, calldataload(add(item, 40)))
            let w := calldataload(item)
            let sink := shr(96, w)
            let s := and(calldataload(add(item, 80)), 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
            if iszero(gt(s, _HALF_N)) {
                // hashStruct(CapacityAttestation) in the free memory (not allocated: scratch).
                let m := mload(0x40)
                mstore(m, typehash)
                mstore(add(m, 0x20), taskTypeId)
                mstore(add(m, 0x40), sink)
                mstore(add(m, 0x60), and(shr(32, w), 0xffffffffffffffff)) // capacity
                w := calldataload(add(item, 28))
                mstore(add(m, 0x80), shr(192, w)) // backlog
                mstore(add(m, 0xa0), and(shr(160, w), 0xffffffff)) // nonce
                mstore(add(m, 0xc0), signedAt)
                let structHash := keccak256(m, 0xe0)
                // keccak256("\x19\x01" || domain || structHash)
                mstore(m, 0x1901)
                mstore(add(m, 0x20), domain)
                mstore(add(m, 0x40), structHash)
                let digest := keccak256(add(m, 0x1e), 0x42)
                // ecrecover(digest, v, r, s); v = 27 + the top bit of yParityAndS
                mstore(m, digest)
                mstore(add(m, 0x20), add(27, shr(255, calldataload(add(item, 80)))))
                mstore(add(m, 0x40), calldataload(add(item, 48)))
                mstore(add(m, 0x60), s)
                mstore(0x00, 0)
                pop(staticcall(gas(), 0x01, m, 0x80, 0x00, 0x20))
                let signer := mload(0x00)
                valid := and(iszero(iszero(signer)), eq(signer, sink))
            }
        }
        return valid ? ICapacityRegistry.Rejection.None : ICapacityRegistry.Rejection.BadSignature;
    }
}
