// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IAgreementRegistry, IOpenLoans} from "./IAgreementRegistry.sol";

/// @title AgreementRegistry
/// @notice See {IAgreementRegistry}.
contract AgreementRegistry is IAgreementRegistry, AccessControl, EIP712 {
    /// @notice Role of lenders allowed to notarise.
    bytes32 public constant NOTARY_ROLE = keccak256("NOTARY_ROLE");

    /// @dev EIP-712 encodeType of `Agreement` with its nested `LoanTerms` (and `Instalment`);
    /// a struct member is encoded as its struct hash, which the contract receives as termsDigest.
    bytes32 private constant _AGREEMENT_TYPEHASH = keccak256(
        "Agreement(bytes32 digest,address lender,address borrower,bytes32 borrowerCommitment,LoanTerms terms,bytes32 supersedes)"
        "Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)"
        "LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)"
    );
    bytes32 private constant _REVOCATION_TYPEHASH = keccak256("Revocation(bytes32 agreementId,uint8 reason)");

    mapping(bytes32 agreementId => Record) private _records;
    /// @dev Batches are kept per anchoring lender: a root another NOTARY anchors first (a
    /// front-run of a lender's pending transaction) lands in that NOTARY's own namespace and
    /// can neither block nor claim the lender's batch.
    mapping(address lender => mapping(bytes32 root => Batch)) private _batches;
    mapping(bytes32 agreementId => Status) private _batchedStatus;
    mapping(bytes32 agreementId => bytes32 successor) private _successors;
    mapping(bytes32 agreementId => uint8 reason) private _revocationReasons;
    IOpenLoans private _loanLedger;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants NOTARY to lenders).
    constructor(address admin) EIP712("LoantraceAgreementRegistry", "2") {
        if (admin == address(0)) revert AgreementRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IAgreementRegistry
    function notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        external
        onlyRole(NOTARY_ROLE)
        returns (bytes32 agreementId)
    {
        if (agreement.supersedes != bytes32(0)) {
            revert AgreementRegistrySupersedesMismatch(bytes32(0), agreement.supersedes);
        }
        return _notarise(agreement, lenderSignature, borrowerSignature);
    }

    /// @inheritdoc IAgreementRegistry
    function anchorBatch(bytes32 root, uint32 count, bytes32 manifestHash) external onlyRole(NOTARY_ROLE) {
        if (root == bytes32(0)) revert AgreementRegistryZeroDigest();
        if (count == 0) revert AgreementRegistryEmptyBatch(root);
        Batch storage existing = _batches[msg.sender][root];
        if (existing.lender != address(0)) {
            revert AgreementRegistryBatchAlreadyAnchored(root, existing.anchoredAt);
        }
        _batches[msg.sender][root] = Batch({
            lender: msg.sender, anchoredAt: uint48(block.timestamp), blockNumber: uint40(block.number)
        });
        emit BatchAnchored(root, msg.sender, count, manifestHash);
    }

    /// @inheritdoc IAgreementRegistry
    function supersede(
        bytes32 previousId,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external onlyRole(NOTARY_ROLE) returns (bytes32 agreementId) {
        if (amendment.supersedes != previousId) {
            revert AgreementRegistrySupersedesMismatch(previousId, amendment.supersedes);
        }
        Record storage old = _requireActiveRecordOfCaller(previousId);
        agreementId = _notarise(amendment, lenderSignature, borrowerSignature);
        old.status = Status.Superseded;
        _successors[previousId] = agreementId;
        emit AgreementSuperseded(previousId, agreementId, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function supersedeBatched(
        bytes32 root,
        AgreementLeaf calldata previous,
        bytes32[] calldata proof,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external onlyRole(NOTARY_ROLE) returns (bytes32 agreementId) {
        bytes32 previousId = _requireActiveBatchedOfCaller(root, previous, proof);
        if (amendment.supersedes != previousId) {
            revert AgreementRegistrySupersedesMismatch(previousId, amendment.supersedes);
        }
        agreementId = _notarise(amendment, lenderSignature, borrowerSignature);
        _batchedStatus[previousId] = Status.Superseded;
        _successors[previousId] = agreementId;
        emit AgreementSuperseded(previousId, agreementId, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function revoke(Agreement calldata agreement, uint8 reason, bytes calldata borrowerSignature)
        external
        onlyRole(NOTARY_ROLE)
    {
        _requireReason(reason);
        bytes32 agreementId = _hashAgreement(agreement);
        Record storage record = _requireActiveRecordOfCaller(agreementId);
        bool consented = _requireConsent(agreementId, agreement.borrower, reason, borrowerSignature);
        record.status = Status.Revoked;
        _revocationReasons[agreementId] = reason;
        emit AgreementRevoked(agreementId, agreement.digest, msg.sender, reason, consented);
    }

    /// @inheritdoc IAgreementRegistry
    function revokeBatched(
        bytes32 root,
        AgreementLeaf calldata leaf,
        bytes32[] calldata proof,
        uint8 reason,
        bytes calldata borrowerSignature
    ) external onlyRole(NOTARY_ROLE) {
        _requireReason(reason);
        bytes32 agreementId = _requireActiveBatchedOfCaller(root, leaf, proof);
        bool consented = _requireConsent(agreementId, leaf.agreement.borrower, reason, borrowerSignature);
        _batchedStatus[agreementId] = Status.Revoked;
        _revocationReasons[agreementId] = reason;
        emit AgreementRevoked(agreementId, leaf.agreement.digest, msg.sender, reason, consented);
    }

    /// @inheritdoc IAgreementRegistry
    function setLoanLedger(IOpenLoans ledger) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(ledger) == address(0)) revert AgreementRegistryZeroAddress();
        if (address(_loanLedger) != address(0)) revert AgreementRegistryLoanLedgerAlreadySet(address(_loanLedger));
        _loanLedger = ledger;
        emit LoanLedgerSet(address(ledger));
    }

    /// @inheritdoc IAgreementRegistry
    function recordOf(bytes32 agreementId) external view returns (Record memory) {
        return _records[agreementId];
    }

    /// @inheritdoc IAgreementRegistry
    function batchOf(address lender, bytes32 root) external view returns (Batch memory) {
        return _batches[lender][root];
    }

    /// @inheritdoc IAgreementRegistry
    function statusOf(bytes32 agreementId) external view returns (Status status, bytes32 successor, uint8 reason) {
        status = _records[agreementId].status;
        // slither-disable-next-line incorrect-equality (an enum; its Record merely holds a time too)
        if (status == Status.None) status = _batchedStatus[agreementId];
        return (status, _successors[agreementId], _revocationReasons[agreementId]);
    }

    /// @inheritdoc IAgreementRegistry
    function batchedAgreement(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bytes32 agreementId, Batch memory batch, Status status)
    {
        agreementId = _hashAgreement(leaf.agreement);
        batch = _batches[leaf.agreement.lender][root]; // only the leaf's lender's own anchor counts
        if (batch.lender == address(0)) revert AgreementRegistryUnknownAgreement(root);
        if (!MerkleProof.verifyCalldata(proof, root, _leafHash(leaf))) {
            revert AgreementRegistryInvalidProof(root, agreementId);
        }
        _requireSignature(agreementId, leaf.agreement.lender, leaf.lenderSignature);
        _requireSignature(agreementId, leaf.agreement.borrower, leaf.borrowerSignature);
        status = _batchedStatus[agreementId];
        if (status == Status.None) status = Status.Notarised;
    }

    /// @inheritdoc IAgreementRegistry
    function verifyInclusion(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        if (_batches[leaf.agreement.lender][root].lender == address(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, _leafHash(leaf));
    }

    /// @inheritdoc IAgreementRegistry
    function leafHash(AgreementLeaf calldata leaf) external pure returns (bytes32) {
        return _leafHash(leaf);
    }

    /// @inheritdoc IAgreementRegistry
    function hashAgreement(Agreement calldata agreement) external view returns (bytes32) {
        return _hashAgreement(agreement);
    }

    /// @inheritdoc IAgreementRegistry
    function hashRevocation(bytes32 agreementId, uint8 reason) external view returns (bytes32) {
        return _hashRevocation(agreementId, reason);
    }

    /// @inheritdoc IAgreementRegistry
    function loanLedger() external view returns (IOpenLoans) {
        return _loanLedger;
    }

    /// @inheritdoc IAgreementRegistry
    function version() external pure returns (string memory) {
        return "2.1.0";
    }

    function _notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        private
        returns (bytes32 agreementId)
    {
        if (agreement.digest == bytes32(0)) revert AgreementRegistryZeroDigest();
        if (agreement.lender != msg.sender) revert AgreementRegistryLenderMismatch(agreement.lender, msg.sender);
        agreementId = _hashAgreement(agreement);
        Record storage existing = _records[agreementId];
        if (existing.lender != address(0)) {
            revert AgreementRegistryAlreadyNotarised(agreementId, existing.notarisedAt);
        }
        _requireSignature(agreementId, agreement.lender, lenderSignature);
        _requireSignature(agreementId, agreement.borrower, borrowerSignature);

        _records[agreementId] = Record({
            lender: msg.sender,
            notarisedAt: uint48(block.timestamp),
            blockNumber: uint40(block.number),
            status: Status.Notarised
        });
        emit AgreementNotarised(
            agreementId,
            agreement.digest,
            agreement.lender,
            agreement.borrower,
            agreement.borrowerCommitment,
            agreement.termsDigest,
            agreement.supersedes,
            lenderSignature,
            borrowerSignature
        );
    }

    /// @dev Returns whether the borrower consented; reverts if consent is needed and missing.
    function _requireConsent(bytes32 agreementId, address borrower, uint8 reason, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (signature.length > 0) {
            if (!SignatureChecker.isValidSignatureNow(borrower, _hashRevocation(agreementId, reason), signature)) {
                revert AgreementRegistryInvalidSignature(agreementId, borrower);
            }
            return true;
        }
        IOpenLoans ledger = _loanLedger;
        if (address(ledger) != address(0) && ledger.hasOpenLoan(agreementId)) {
            revert AgreementRegistryBorrowerConsentRequired(agreementId, borrower);
        }
        return false;
    }

    function _requireActiveRecordOfCaller(bytes32 agreementId) private view returns (Record storage record) {
        record = _records[agreementId];
        if (record.lender == address(0)) revert AgreementRegistryUnknownAgreement(agreementId);
        if (record.lender != msg.sender) revert AgreementRegistryNotLender(agreementId, msg.sender);
        if (record.status != Status.Notarised) revert AgreementRegistryNotActive(agreementId, record.status);
    }

    /// @dev The id of `leaf`, an agreement of the caller's anchored batch `root` (proven by
    /// `proof`) that is still in force; reverts otherwise.
    function _requireActiveBatchedOfCaller(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (bytes32 agreementId)
    {
        agreementId = _hashAgreement(leaf.agreement);
        if (leaf.agreement.lender != msg.sender) revert AgreementRegistryNotLender(agreementId, msg.sender);
        Batch storage batch = _batches[msg.sender][root];
        if (batch.lender == address(0)) revert AgreementRegistryUnknownAgreement(root);
        if (!MerkleProof.verifyCalldata(proof, root, _leafHash(leaf))) {
            revert AgreementRegistryInvalidProof(root, agreementId);
        }
        Status status = _batchedStatus[agreementId];
        if (status != Status.None) revert AgreementRegistryNotActive(agreementId, status);
    }

    function _requireReason(uint8 reason) private pure {
        if (reason == 0) revert AgreementRegistryInvalidReason(reason);
    }

    function _requireSignature(bytes32 agreementId, address signer, bytes calldata signature) private view {
        if (!SignatureChecker.isValidSignatureNow(signer, agreementId, signature)) {
            revert AgreementRegistryInvalidSignature(agreementId, signer);
        }
    }

    function _hashAgreement(Agreement calldata agreement) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    _AGREEMENT_TYPEHASH,
                    agreement.digest,
                    agreement.lender,
                    agreement.borrower,
                    agreement.borrowerCommitment,
                    agreement.termsDigest,
                    agreement.supersedes
                )
            )
        );
    }

    function _hashRevocation(bytes32 agreementId, uint8 reason) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_REVOCATION_TYPEHASH, agreementId, reason)));
    }

    function _leafHash(AgreementLeaf calldata leaf) private pure returns (bytes32) {
        Agreement calldata a = leaf.agreement;
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        a.digest,
                        a.lender,
                        a.borrower,
                        a.borrowerCommitment,
                        a.termsDigest,
                        a.supersedes,
                        leaf.lenderSignature,
                        leaf.borrowerSignature
                    )
                )
            )
        );
    }
}
