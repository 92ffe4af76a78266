// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IFundFlow} from "./IFundFlow.sol";
import {ILoanLedger} from "./ILoanLedger.sol";

/// @title FundFlow
/// @notice See {IFundFlow}.
contract FundFlow is IFundFlow, AccessControl {
    /// @notice Role of custodians and banks that report transfers of any loan.
    bytes32 public constant REPORTER_ROLE = keccak256("REPORTER_ROLE");
    /// @notice Role that labels account commitments.
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    /// @notice Lenders hold NOTARY in the AgreementRegistry.
    bytes32 public constant NOTARY_ROLE = keccak256("NOTARY_ROLE");

    ILoanLedger private immutable _ledger;
    IAccessControl private immutable _registry;
    mapping(bytes32 account => bytes32 category) private _categories;
    mapping(bytes32 reporterAndRef => bool) private _usedReferences;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE.
    /// @param ledger The LoanLedger whose loans transfers belong to.
    /// @param registry The AgreementRegistry whose NOTARY role identifies lenders.
    constructor(address admin, ILoanLedger ledger, IAccessControl registry) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _ledger = ledger;
        _registry = registry;
    }

    /// @inheritdoc IFundFlow
    function recordTransfer(
        bytes32 loanId,
        bytes32 fromAccount,
        bytes32 toAccount,
        uint256 amount,
        bytes32 purpose,
        bytes32 externalRef
    ) external {
        ILoanLedger.Loan memory loan = _ledger.loanOf(loanId);
        if (loan.disbursed == 0) revert FundFlowLoanNotDisbursed(loanId);
        bool lender = loan.lender == msg.sender && _registry.hasRole(NOTARY_ROLE, msg.sender);
        if (!lender && !hasRole(REPORTER_ROLE, msg.sender)) revert FundFlowNotReporter(loanId, msg.sender);
        if (amount == 0) revert FundFlowZeroAmount();
        if (fromAccount == bytes32(0) || toAccount == bytes32(0)) revert FundFlowZeroAccount();
        if (fromAccount == toAccount) revert FundFlowSameAccount(fromAccount);
        _useReference(externalRef);
        emit FundsTransferred(loanId, fromAccount, toAccount, amount, purpose, externalRef, msg.sender);
    }

    /// @inheritdoc IFundFlow
    function labelAccount(bytes32 account, bytes32 category) external {
        if (!hasRole(REGULATOR_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert FundFlowNotRegulator(msg.sender);
        }
        if (account == bytes32(0)) revert FundFlowZeroAccount();
        bytes32 previous = _categories[account];
        _categories[account] = category;
        emit AccountLabelled(account, category, previous, msg.sender);
    }

    /// @inheritdoc IFundFlow
    function categoryOf(bytes32 account) external view returns (bytes32) {
        return _categories[account];
    }

    /// @inheritdoc IFundFlow
    function referenceUsed(address reporter, bytes32 externalRef) external view returns (bool) {
        return _usedReferences[keccak256(abi.encode(reporter, externalRef))];
    }

    /// @dev Mark `externalRef` used by the caller; revert if the caller already used it.
    function _useReference(bytes32 externalRef) private {
        bytes32 key = keccak256(abi.encode(msg.sender, externalRef));
        if (_usedReferences[key]) revert FundFlowReferenceUsed(externalRef);
        _usedReferences[key] = true;
    }
}
