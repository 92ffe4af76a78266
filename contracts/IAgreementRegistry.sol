// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Source of loan state the registry consults before a lender revokes alone
interface IOpenLoans {
    /// @notice Whether a loan on `agreementId` is registered and not yet repaid.
    function hasOpenLoan(bytes32 agreementId) external view returns (bool);
}

/// @title Registry of notarised loan agreements
/// @notice Anchors the SHA-256 digest of signed loan agreements, singly or as Merkle batches.
/// Both parties sign the agreement as EIP-712 typed data; the registry verifies both signatures
/// (EOAs through ECDSA, smart-contract wallets through ERC-1271). No personal data is stored:
/// the borrower appears only as a salted commitment and a pseudonymous signing address.
///
/// Records are keyed by the agreement id: the EIP-712 hash both parties signed, which binds
/// the document digest, both parties, the borrower commitment and the terms (schedule
/// included). A rival lender anchoring the same document gets a record of its own and can
/// neither block nor change this one; only the agreement's lender acts on it, and while the
/// agreement backs an open loan, a revocation also needs the borrower's signature.
interface IAgreementRegistry {
    /// @notice The EIP-712 `Agreement` struct both parties sign.
    /// @dev Wallets sign it with the terms as a nested `LoanTerms` struct (schedule included);
    /// its EIP-712 encoding is the struct hash, carried here as `termsDigest`.
    /// @param digest SHA-256 of the signed document's bytes (RFC 8785 canonical form for JSON).
    /// @param lender Signing address of the lender; must be the NOTARY account that submits it.
    /// @param borrower Pseudonymous signing address of the borrower.
    /// @param borrowerCommitment Salted commitment to the borrower's identity (no personal data).
    /// @param termsDigest EIP-712 struct hash of the `LoanTerms`, repayment schedule included.
    /// @param supersedes Agreement id of the agreement this one amends, or zero.
    struct Agreement {
        bytes32 digest;
        address lender;
        address borrower;
        bytes32 borrowerCommitment;
        bytes32 termsDigest;
        bytes32 supersedes;
    }

    /// @notice Lifecycle of an agreement.
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

    /// @notice The agreement was already notarised singly at `at` (unix seconds).
    error AgreementRegistryAlreadyNotarised(bytes32 agreementId, uint64 at);

    /// @notice The Merkle root was already anchored at `at` (unix seconds).
    error AgreementRegistryBatchAlreadyAnchored(bytes32 root, uint64 at);

    /// @notice A batch must cover at least one agreement.
    error AgreementRegistryEmptyBatch(bytes32 root);

    /// @notice The agreement names `lender` but was submitted by `caller`.
    error AgreementRegistryLenderMismatch(address lender, address caller);

    /// @notice `signer` did not sign the agreement with this signature.
    error AgreementRegistryInvalidSignature(bytes32 agreementId, address signer);

    /// @notice No agreement (or batch) is known under this id (or root).
    error AgreementRegistryUnknownAgreement(bytes32 agreementId);

    /// @notice The Merkle proof does not place the agreement under the root.
    error AgreementRegistryInvalidProof(bytes32 root, bytes32 agreementId);

    /// @notice Only the lender that notarised the agreement may change it.
    error AgreementRegistryNotLender(bytes32 agreementId, address caller);

    /// @notice The agreement is no longer in force (superseded or revoked).
    error AgreementRegistryNotActive(bytes32 agreementId, Status status);

    /// @notice An amendment must name the agreement it supersedes.
    error AgreementRegistrySupersedesMismatch(bytes32 expected, bytes32 actual);

    /// @notice A revocation needs a non-zero reason code.
    error AgreementRegistryInvalidReason(uint8 reason);

    /// @notice The agreement backs an open loan: revoking it needs the borrower's signature.
    error AgreementRegistryBorrowerConsentRequired(bytes32 agreementId, address borrower);

    /// @notice The loan ledger is already set to `ledger`; it can be set once.
    error AgreementRegistryLoanLedgerAlreadySet(address ledger);

    /// @notice An address argument is zero.
    error AgreementRegistryZeroAddress();

    /// @notice An agreement was notarised singly. The signatures are logged so anyone can
    /// recover both signers from the chain alone, whatever wallet sent the transaction.
    event AgreementNotarised(
        bytes32 indexed agreementId,
        bytes32 indexed digest,
        address indexed lender,
        address borrower,
        bytes32 borrowerCommitment,
        bytes32 termsDigest,
        bytes32 supersedes,
        bytes lenderSignature,
        bytes borrowerSignature
    );

    /// @notice A Merkle root covering `count` agreements was anchored. `manifestHash` is the
    /// SHA-256 of the batch's manifest (its leaves, as an OpenZeppelin StandardMerkleTree dump
    /// in RFC 8785 canonical JSON), published off chain so that anyone can find the batch of a
    /// digest and check the manifest against this root; zero when none was published.
    event BatchAnchored(bytes32 indexed root, address indexed lender, uint32 count, bytes32 manifestHash);

    /// @notice The agreement `agreementId` was replaced by the amendment `successorId`.
    event AgreementSuperseded(bytes32 indexed agreementId, bytes32 indexed successorId, address indexed lender);

    /// @notice `agreementId` (of document `digest`) was revoked by its lender with a reason
    /// code; `borrowerConsented` says whether the borrower signed the revocation.
    event AgreementRevoked(
        bytes32 indexed agreementId, bytes32 indexed digest, address indexed lender, uint8 reason, bool borrowerConsented
    );

    /// @notice The loan ledger consulted before revocations was set.
    event LoanLedgerSet(address ledger);

    /// @notice Notarise one agreement signed by both parties. Only NOTARY accounts, for themselves.
    /// @return agreementId The EIP-712 hash of the agreement, its key in this registry.
    function notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        external
        returns (bytes32 agreementId);

    /// @notice Anchor one Merkle root covering `count` agreements, with the SHA-256 of the
    /// batch's published manifest (see {BatchAnchored}). Only NOTARY accounts.
    /// @dev Leaves use the StandardMerkleTree encoding of `AgreementLeaf`; signatures are checked
    /// off chain before anchoring, and on chain whenever a leaf is used ({batchedAgreement}).
    function anchorBatch(bytes32 root, uint32 count, bytes32 manifestHash) external;

    /// @notice Notarise `amendment`, which replaces the singly notarised `previousId`. Both
    /// parties sign the amendment, so the borrower consents to the replacement.
    function supersede(
        bytes32 previousId,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external returns (bytes32 agreementId);

    /// @notice Notarise `amendment` singly, replacing `previous`, an agreement of the caller's
    /// batch `root` (proven by `proof`) that is still in force. Both parties sign the amendment,
    /// which must name the previous agreement's id in `supersedes`; as for {supersede}, the
    /// previous agreement is then Superseded with the amendment as its successor.
    /// @return agreementId The amendment's agreement id.
    function supersedeBatched(
        bytes32 root,
        AgreementLeaf calldata previous,
        bytes32[] calldata proof,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external returns (bytes32 agreementId);

    /// @notice Revoke a singly notarised agreement with a non-zero reason code. While it backs
    /// an open loan, `borrowerSignature` must be the borrower's EIP-712 signature of
    /// `Revocation(agreementId, reason)`; otherwise it may be empty.
    function revoke(Agreement calldata agreement, uint8 reason, bytes calldata borrowerSignature) external;

    /// @notice Revoke an agreement of a batch, proving its inclusion; consent as for {revoke}.
    function revokeBatched(
        bytes32 root,
        AgreementLeaf calldata leaf,
        bytes32[] calldata proof,
        uint8 reason,
        bytes calldata borrowerSignature
    ) external;

    /// @notice Set, once, the ledger whose open loans need the borrower's consent to revoke.
    function setLoanLedger(IOpenLoans ledger) external;

    /// @notice The single-notarisation record of `agreementId` (zero lender when none).
    function recordOf(bytes32 agreementId) external view returns (Record memory);

    /// @notice The batch `lender` anchored under `root` (zero lender when none). Each lender
    /// has its own roots: another NOTARY anchoring the same root neither blocks nor owns it.
    function batchOf(address lender, bytes32 root) external view returns (Batch memory);

    /// @notice Current status of `agreementId`: from its record or, if batched, Superseded or
    /// Revoked once it is (None while a batched agreement is in force); `successor` is the
    /// amendment that superseded it and `reason` the revocation's reason code (zero when none).
    function statusOf(bytes32 agreementId) external view returns (Status status, bytes32 successor, uint8 reason);

    /// @notice The agreement id and batch of a leaf, with its status; reverts unless the
    /// proof places the leaf under an anchored root and both parties' signatures are valid.
    function batchedAgreement(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bytes32 agreementId, Batch memory batch, Status status);

    /// @notice Whether `leaf` is included under the anchored `root` by `proof`.
    function verifyInclusion(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice The StandardMerkleTree leaf hash of `leaf`.
    function leafHash(AgreementLeaf calldata leaf) external pure returns (bytes32);

    /// @notice The EIP-712 hash both parties sign for `agreement`: its agreement id.
    function hashAgreement(Agreement calldata agreement) external view returns (bytes32);

    /// @notice The EIP-712 hash the borrower signs to consent to a revocation.
    function hashRevocation(bytes32 agreementId, uint8 reason) external view returns (bytes32);

    /// @notice The ledger consulted before revocations (zero until set).
    function loanLedger() external view returns (IOpenLoans);

    /// @notice Version of this contract's interface.
    function version() external pure returns (string memory);
}
