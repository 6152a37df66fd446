// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";

/// @title OffchainAggregator: capacity attestations signed off chain, relayed in batches by anyone.
/// @notice A sink signs an EIP-712 CapacityAttestation (task type, sink, capacity, backlog, nonce,
/// timestamp) whenever its load changes; any relayer (the capacity oracle, the sink itself, a
/// stranger) submits many in one transaction. There is no privileged aggregator to front-run into
/// place. Each item is checked on its own: freshness both ways, the signature (non-reverting
/// recovery), then, in the registry, a strictly increasing nonce and the same stake cap, EWMA and
/// rate limit as commit-reveal. A bad item is skipped with an `AttestationRejected` event and never
/// reverts the batch. A sink can always fall back to commit-reveal, so a relayer cannot censor it.
/// @dev Signatures are EIP-2098 compact (r, yParityAndS): 64 bytes of calldata each.
contract OffchainAggregator is EIP712 {
    event AttestationRejected(
        bytes32 indexed taskTypeId, address indexed sink, uint256 nonce, ICapacityRegistry.Rejection reason
    );
    event AttestationsSubmitted(address indexed relayer, uint256 accepted, uint256 rejected);

    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "CapacityAttestation(bytes32 taskTypeId,address sink,uint64 capacity,uint64 backlog,uint32 nonce,uint64 timestamp)"
    );

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

    ICapacityRegistry public immutable registry;
    /// @notice Oldest an attestation may be when it lands.
    uint256 public immutable maxAge;
    /// @notice How far ahead of the chain's clock a signer's clock may run.
    uint256 public immutable maxSkew;

    error InvalidParameters();

    constructor(ICapacityRegistry registry_, uint256 maxAge_, uint256 maxSkew_) EIP712("BPE OffchainAggregator", "1") {
        // An attestation must be able to live long enough to be relayed.
        if (maxAge_ == 0) revert InvalidParameters();
        registry = registry_;
        maxAge = maxAge_;
        maxSkew = maxSkew_;
    }

    /// @notice Applies every valid attestation of the batch; returns how many were accepted.
    function submitAttestations(Attestation[] calldata items) external returns (uint256 accepted) {
        for (uint256 i; i < items.length; ++i) {
            Attestation calldata a = items[i];
            ICapacityRegistry.Rejection reason = _check(a);
            if (reason == ICapacityRegistry.Rejection.None) {
                reason = registry.applyAttestation(a.taskTypeId, a.sink, a.capacity, a.backlog, a.nonce);
            }
            if (reason == ICapacityRegistry.Rejection.None) {
                ++accepted;
            } else {
                emit AttestationRejected(a.taskTypeId, a.sink, a.nonce, reason);
            }
        }
        emit AttestationsSubmitted(msg.sender, accepted, items.length - accepted);
    }

    /// @notice The EIP-712 digest a sink signs for `a` (signature fields ignored).
    function attestationDigest(Attestation calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ATTESTATION_TYPEHASH, a.taskTypeId, a.sink, a.capacity, a.backlog, a.nonce, a.timestamp))
        );
    }

    function _check(Attestation calldata a) internal view returns (ICapacityRegistry.Rejection) {
        if (a.timestamp + maxAge < block.timestamp) return ICapacityRegistry.Rejection.Stale;
        if (a.timestamp > block.timestamp + maxSkew) return ICapacityRegistry.Rejection.FromTheFuture;
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(attestationDigest(a), a.r, a.vs);
        if (err != ECDSA.RecoverError.NoError || signer != a.sink) return ICapacityRegistry.Rejection.BadSignature;
        return ICapacityRegistry.Rejection.None;
    }
}
