// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Registry of notarised loan agreements
/// @notice Anchors the SHA-256 digest of signed loan agreements, singly or as Merkle batches.
/// Both parties sign the agreement as EIP-712 typed data; the registry verifies both signatures
/// (EOAs through ECDSA, smart-contract wallets through ERC-1271). No personal data is stored:
/// the borrower appears only as a salted commitment and a pseudonymous signing address.
interface IAgreementRegistry {
    /// @notice The EIP-712 `Agreement` struct both parties sign.
    /// @param digest SHA-256 of the signed document's bytes (RFC 8785 canonical form for JSON).
    /// @param lender Signing address of the lender; must be the NOTARY account that submits it.
    /// @param borrower Pseudonymous signing address of the borrower.
    /// @param borrowerCommitment Salted commitment to the borrower's identity (no personal data).
    /// @param termsDigest SHA-256 of the canonical key terms.
    /// @param supersedes Digest of the agreement this one amends, or zero.
    struct Agreement {
        bytes32 digest;
        address lender;
        address borrower;
        bytes32 borrowerCommitment;
        bytes32 termsDigest;
        bytes32 supersedes;
    }

    /// @notice Lifecycle of an agreement digest.
    enum Status {
        None,
        Notarised,
        Superseded,
        Revoked
    }

    /// @notice A singly notarised agreement, packed into one storage slot.
    struct Record {
        address lender;
        uint48 notarisedAt;
        uint40 blockNumber;
        Status status;
    }

    /// @notice A Merkle batch of agreements, packed into one storage slot.
    struct Batch {
        address lender;
        uint48 anchoredAt;
        uint40 blockNumber;
    }

    /// @notice Every value a leaf of a batch commits to, in StandardMerkleTree leaf order:
    /// (bytes32, address, address, bytes32, bytes32, bytes32, bytes, bytes).
    struct AgreementLeaf {
        Agreement agreement;
        bytes lenderSignature;
        bytes borrowerSignature;
    }

    /// @notice The digest is zero.
    error AgreementRegistryZeroDigest();

    /// @notice The digest was already notarised singly at `at` (unix seconds).
    error AgreementRegistryAlreadyNotarised(bytes32 digest, uint64 at);

    /// @notice The Merkle root was already anchored at `at` (unix seconds).
    error AgreementRegistryBatchAlreadyAnchored(bytes32 root, uint64 at);

    /// @notice A batch must cover at least one agreement.
    error AgreementRegistryEmptyBatch(bytes32 root);

    /// @notice The agreement names `lender` but was submitted by `caller`.
    error AgreementRegistryLenderMismatch(address lender, address caller);

    /// @notice `signer` did not sign the agreement with this signature.
    error AgreementRegistryInvalidSignature(bytes32 digest, address signer);

    /// @notice No agreement (or batch) is known under this digest (or root).
    error AgreementRegistryUnknownAgreement(bytes32 digest);

    /// @notice The Merkle proof does not place the agreement under the root.
    error AgreementRegistryInvalidProof(bytes32 root, bytes32 digest);

    /// @notice Only the lender that notarised the agreement may change it.
    error AgreementRegistryNotLender(bytes32 digest, address caller);

    /// @notice The agreement is no longer in force (superseded or revoked).
    error AgreementRegistryNotActive(bytes32 digest, Status status);

    /// @notice An amendment must name the agreement it supersedes.
    error AgreementRegistrySupersedesMismatch(bytes32 expected, bytes32 actual);

    /// @notice A revocation needs a non-zero reason code.
    error AgreementRegistryInvalidReason(uint8 reason);

    /// @notice An agreement was notarised singly. The signatures are logged so anyone can
    /// recover both signers from the chain alone, whatever wallet sent the transaction.
    event AgreementNotarised(
        bytes32 indexed digest,
        address indexed lender,
        address indexed borrower,
        bytes32 borrowerCommitment,
        bytes32 termsDigest,
        bytes32 supersedes,
        bytes lenderSignature,
        bytes borrowerSignature
    );

    /// @notice A Merkle root covering `count` agreements was anchored.
    event BatchAnchored(bytes32 indexed root, address indexed lender, uint32 count);

    /// @notice `digest` was replaced by the amendment `successor`.
    event AgreementSuperseded(bytes32 indexed digest, bytes32 indexed successor, address indexed lender);

    /// @notice `digest` was revoked by its lender with a reason code.
    event AgreementRevoked(bytes32 indexed digest, address indexed lender, uint8 reason);

    /// @notice Notarise one agreement signed by both parties. Only NOTARY accounts, for themselves.
    function notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        external;

    /// @notice Anchor one Merkle root covering `count` agreements. Only NOTARY accounts.
    /// @dev Leaves use the StandardMerkleTree encoding of `AgreementLeaf`; signatures are checked
    /// off chain before anchoring and can be re-checked by anyone from the leaf values.
    function anchorBatch(bytes32 root, uint32 count) external;

    /// @notice Notarise `amendment`, which replaces the singly notarised `previous`.
    function supersede(
        bytes32 previous,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external;

    /// @notice Revoke a singly notarised agreement with a non-zero reason code.
    function revoke(bytes32 digest, uint8 reason) external;

    /// @notice Revoke an agreement of a batch, proving its inclusion.
    function revokeBatched(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof, uint8 reason)
        external;

    /// @notice The single-notarisation record of `digest` (zero lender when none).
    function recordOf(bytes32 digest) external view returns (Record memory);

    /// @notice The batch anchored under `root` (zero lender when none).
    function batchOf(bytes32 root) external view returns (Batch memory);

    /// @notice Current status of `digest`: from its record, or its revocation if batched.
    function statusOf(bytes32 digest) external view returns (Status status, bytes32 successor, uint8 reason);

    /// @notice Whether `leaf` is included under the anchored `root` by `proof`.
    function verifyInclusion(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice The StandardMerkleTree leaf hash of `leaf`.
    function leafHash(AgreementLeaf calldata leaf) external pure returns (bytes32);

    /// @notice The EIP-712 hash both parties sign for `agreement`.
    function hashAgreement(Agreement calldata agreement) external view returns (bytes32);
}
