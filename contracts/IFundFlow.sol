// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Fund-use transfers after disbursement, and regulator labels of accounts
/// @notice Accounts appear only as salted commitments (bytes32): no personal data on chain.
/// Transfers of a disbursed loan are reported by the loan's lender (a NOTARY) or by a
/// REPORTER (e.g. a custodian bank); each external reference counts once per reporting
/// account (as in the LoanLedger), so one reporter can neither use nor block another's.
/// REGULATOR (or admin) labels accounts with categories; every label is an event, so the
/// history of labels is auditable.
interface IFundFlow {
    /// @notice Nothing of the loan was disbursed yet (or there is no such loan).
    error FundFlowLoanNotDisbursed(bytes32 loanId);
    /// @notice `caller` is neither the loan's lender (a NOTARY) nor a REPORTER.
    error FundFlowNotReporter(bytes32 loanId, address caller);
    /// @notice A transfer of zero.
    error FundFlowZeroAmount();
    /// @notice A transfer from an account to itself.
    error FundFlowSameAccount(bytes32 account);
    /// @notice The caller already reported a transfer under this external reference.
    error FundFlowReferenceUsed(bytes32 externalRef);
    /// @notice Only a REGULATOR or the admin labels accounts.
    error FundFlowNotRegulator(address caller);
    /// @notice An account commitment is zero.
    error FundFlowZeroAccount();

    /// @notice Money moved from one account to another after a loan's disbursement.
    event FundsTransferred(
        bytes32 indexed loanId,
        bytes32 indexed fromAccount,
        bytes32 indexed toAccount,
        uint256 amount,
        bytes32 purpose,
        bytes32 externalRef,
        address reporter
    );

    /// @notice An account commitment was labelled with a category (zero clears the label).
    event AccountLabelled(bytes32 indexed account, bytes32 indexed category, bytes32 previous, address by);

    /// @notice Record a fund-use transfer of a disbursed loan.
    function recordTransfer(
        bytes32 loanId,
        bytes32 fromAccount,
        bytes32 toAccount,
        uint256 amount,
        bytes32 purpose,
        bytes32 externalRef
    ) external;

    /// @notice Label an account commitment with a category (REGULATOR or admin).
    function labelAccount(bytes32 account, bytes32 category) external;

    /// @notice The category label of an account commitment (zero when none).
    function categoryOf(bytes32 account) external view returns (bytes32);
    /// @notice Whether `reporter` already reported a transfer under `externalRef`.
    function referenceUsed(address reporter, bytes32 externalRef) external view returns (bool);
}
