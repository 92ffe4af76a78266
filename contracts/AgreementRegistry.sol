// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IAgreementRegistry} from "./IAgreementRegistry.sol";

/// @title AgreementRegistry
/// @notice See {IAgreementRegistry}.
contract AgreementRegistry is IAgreementRegistry, AccessControl, EIP712 {
    /// @notice Role of lenders allowed to notarise.
    bytes32 public constant NOTARY_ROLE = keccak256("NOTARY_ROLE");

    bytes32 private constant _AGREEMENT_TYPEHASH = keccak256(
        "Agreement(bytes32 digest,address lender,address borrower,bytes32 borrowerCommitment,bytes32 termsDigest,bytes32 supersedes)"
    );

    mapping(bytes32 digest => Record) private _records;
    mapping(bytes32 root => Batch) private _batches;
    mapping(bytes32 digest => Status) private _batchedStatus;
    mapping(bytes32 digest => bytes32 successor) private _successors;
    mapping(bytes32 digest => uint8 reason) private _revocationReasons;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants NOTARY to lenders).
    constructor(address admin) EIP712("LoantraceAgreementRegistry", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IAgreementRegistry
    function notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        external
        onlyRole(NOTARY_ROLE)
    {
        _requireNoSupersedes(agreement);
        _notarise(agreement, lenderSignature, borrowerSignature);
    }

    /// @inheritdoc IAgreementRegistry
    function anchorBatch(bytes32 root, uint32 count) external onlyRole(NOTARY_ROLE) {
        if (root == bytes32(0)) revert AgreementRegistryZeroDigest();
        if (count == 0) revert AgreementRegistryEmptyBatch(root);
        Batch storage existing = _batches[root];
        if (existing.lender != address(0)) {
            revert AgreementRegistryBatchAlreadyAnchored(root, existing.anchoredAt);
        }
        _batches[root] = Batch({
            lender: msg.sender, anchoredAt: uint48(block.timestamp), blockNumber: uint40(block.number)
        });
        emit BatchAnchored(root, msg.sender, count);
    }

    /// @inheritdoc IAgreementRegistry
    function supersede(
        bytes32 previous,
        Agreement calldata amendment,
        bytes calldata lenderSignature,
        bytes calldata borrowerSignature
    ) external onlyRole(NOTARY_ROLE) {
        if (amendment.supersedes != previous) {
            revert AgreementRegistrySupersedesMismatch(previous, amendment.supersedes);
        }
        Record storage old = _requireActiveRecordOfCaller(previous);
        _notarise(amendment, lenderSignature, borrowerSignature);
        old.status = Status.Superseded;
        _successors[previous] = amendment.digest;
        emit AgreementSuperseded(previous, amendment.digest, msg.sender);
    }

    /// @inheritdoc IAgreementRegistry
    function revoke(bytes32 digest, uint8 reason) external onlyRole(NOTARY_ROLE) {
        _requireReason(reason);
        Record storage record = _requireActiveRecordOfCaller(digest);
        record.status = Status.Revoked;
        _revocationReasons[digest] = reason;
        emit AgreementRevoked(digest, msg.sender, reason);
    }

    /// @inheritdoc IAgreementRegistry
    function revokeBatched(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof, uint8 reason)
        external
        onlyRole(NOTARY_ROLE)
    {
        _requireReason(reason);
        bytes32 digest = leaf.agreement.digest;
        Batch storage batch = _batches[root];
        if (batch.lender == address(0)) revert AgreementRegistryUnknownAgreement(root);
        if (batch.lender != msg.sender || leaf.agreement.lender != msg.sender) {
            revert AgreementRegistryNotLender(digest, msg.sender);
        }
        if (!MerkleProof.verifyCalldata(proof, root, _leafHash(leaf))) {
            revert AgreementRegistryInvalidProof(root, digest);
        }
        Status status = _batchedStatus[digest];
        if (status != Status.None) revert AgreementRegistryNotActive(digest, status);
        _batchedStatus[digest] = Status.Revoked;
        _revocationReasons[digest] = reason;
        emit AgreementRevoked(digest, msg.sender, reason);
    }

    /// @inheritdoc IAgreementRegistry
    function recordOf(bytes32 digest) external view returns (Record memory) {
        return _records[digest];
    }

    /// @inheritdoc IAgreementRegistry
    function batchOf(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @inheritdoc IAgreementRegistry
    function statusOf(bytes32 digest) external view returns (Status status, bytes32 successor, uint8 reason) {
        status = _records[digest].status;
        if (status == Status.None) status = _batchedStatus[digest];
        return (status, _successors[digest], _revocationReasons[digest]);
    }

    /// @inheritdoc IAgreementRegistry
    function verifyInclusion(bytes32 root, AgreementLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        if (_batches[root].lender == address(0)) return false;
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

    function _notarise(Agreement calldata agreement, bytes calldata lenderSignature, bytes calldata borrowerSignature)
        private
    {
        bytes32 digest = agreement.digest;
        if (digest == bytes32(0)) revert AgreementRegistryZeroDigest();
        if (agreement.lender != msg.sender) revert AgreementRegistryLenderMismatch(agreement.lender, msg.sender);
        Record storage existing = _records[digest];
        if (existing.lender != address(0)) revert AgreementRegistryAlreadyNotarised(digest, existing.notarisedAt);

        bytes32 hash = _hashAgreement(agreement);
        _requireSignature(digest, agreement.lender, hash, lenderSignature);
        _requireSignature(digest, agreement.borrower, hash, borrowerSignature);

        _records[digest] = Record({
            lender: msg.sender,
            notarisedAt: uint48(block.timestamp),
            blockNumber: uint40(block.number),
            status: Status.Notarised
        });
        emit AgreementNotarised(
            digest,
            agreement.lender,
            agreement.borrower,
            agreement.borrowerCommitment,
            agreement.termsDigest,
            agreement.supersedes,
            lenderSignature,
            borrowerSignature
        );
    }

    function _requireActiveRecordOfCaller(bytes32 digest) private view returns (Record storage record) {
        record = _records[digest];
        if (record.lender == address(0)) revert AgreementRegistryUnknownAgreement(digest);
        if (record.lender != msg.sender) revert AgreementRegistryNotLender(digest, msg.sender);
        if (record.status != Status.Notarised) revert AgreementRegistryNotActive(digest, record.status);
    }

    function _requireNoSupersedes(Agreement calldata agreement) private pure {
        if (agreement.supersedes != bytes32(0)) {
            revert AgreementRegistrySupersedesMismatch(bytes32(0), agreement.supersedes);
        }
    }

    function _requireReason(uint8 reason) private pure {
        if (reason == 0) revert AgreementRegistryInvalidReason(reason);
    }

    function _requireSignature(bytes32 digest, address signer, bytes32 hash, bytes calldata signature) private view {
        if (!SignatureChecker.isValidSignatureNow(signer, hash, signature)) {
            revert AgreementRegistryInvalidSignature(digest, signer);
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
