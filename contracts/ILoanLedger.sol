// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Ledger of notarised loans: schedules, money movements, contract-raised reminders
/// @notice A loan is bound to an agreement notarised (and not revoked or superseded) in the
/// AgreementRegistry, by the lender that notarised it. Amounts are integer minor units.
/// Days past due and delinquency buckets are computed exactly as loantrace's Python domain:
/// `daysPastDue = now < dueAt ? 0 : (now - dueAt) / 1 days`; buckets 1-30, 31-60, 61-90, 90+.
/// Reminders follow the keeper convention: `checkUpkeep` (view, bounded) finds them,
/// `performUpkeep` (permissionless) re-checks each one against the chain and emits it once.
interface ILoanLedger {
    /// @notice Lifecycle of a loan.
    enum LoanStatus {
        None,
        Registered,
        Active,
        Repaid,
        Defaulted
    }

    /// @notice One instalment of a repayment schedule, as registered.
    struct Instalment {
        uint40 dueAt;
        uint104 principal;
        uint104 interest;
    }

    /// @notice The key terms a loan is registered with.
    /// @param agreementDigest Digest of the notarised agreement; also the loan id.
    /// @param borrowerCommitment Salted commitment to the borrower (no personal data).
    /// @param principal Principal in minor units.
    /// @param aprBps Annual percentage rate in basis points.
    /// @param currency ISO 4217 code, e.g. "CNY".
    /// @param purpose Declared purpose code, e.g. "CONSUMPTION" (left-aligned bytes32).
    struct LoanTerms {
        bytes32 agreementDigest;
        bytes32 borrowerCommitment;
        uint104 principal;
        uint32 aprBps;
        bytes3 currency;
        bytes32 purpose;
    }

    /// @notice A loan as stored (schedule aside).
    struct Loan {
        address lender;
        LoanStatus status;
        uint32 aprBps;
        uint16 instalmentCount;
        uint16 nextUnpaid;
        bytes3 currency;
        uint104 principal;
        uint104 disbursed;
        uint104 repaid;
        uint104 scheduledTotal;
        uint104 paidIntoNext;
    }

    /// @notice When reminders are raised.
    struct ReminderPolicy {
        uint16 dueSoonDays;
        uint16 graceDays;
        uint16 defaultAfterDays;
    }

    error LoanLedgerAgreementNotActive(bytes32 agreementDigest);
    error LoanLedgerNotLender(bytes32 loanId, address caller);
    error LoanLedgerAlreadyRegistered(bytes32 loanId);
    error LoanLedgerUnknownLoan(bytes32 loanId);
    error LoanLedgerRateCapExceeded(uint32 aprBps, uint32 rateCapBps);
    error LoanLedgerInvalidSchedule(uint256 index, string reason);
    error LoanLedgerZeroAmount();
    error LoanLedgerDisbursementExceedsPrincipal(uint256 disbursed, uint256 amount, uint256 principal);
    error LoanLedgerRepaymentExceedsOutstanding(uint256 amount, uint256 outstanding);
    error LoanLedgerNotActive(bytes32 loanId, LoanStatus status);
    error LoanLedgerReferenceUsed(bytes32 externalRef);
    error LoanLedgerInvalidRateCap(uint32 rateCapBps);
    error LoanLedgerInvalidPolicy();
    error LoanLedgerPerformDataTooLong(uint256 entries, uint256 maximum);

    event LoanRegistered(
        bytes32 indexed loanId,
        address indexed lender,
        bytes32 indexed borrowerCommitment,
        uint256 principal,
        uint32 aprBps,
        uint32 rateCapBps,
        bytes3 currency,
        bytes32 purpose,
        uint16 instalmentCount,
        uint256 scheduledTotal
    );
    event LoanDisbursed(
        bytes32 indexed loanId,
        address indexed lender,
        bytes32 indexed externalRef,
        uint256 amount,
        bytes32 toAccount,
        uint256 totalDisbursed
    );
    event LoanRepaid(
        bytes32 indexed loanId,
        address indexed lender,
        bytes32 indexed externalRef,
        uint256 amount,
        bytes32 fromAccount,
        uint256 outstanding
    );
    event InstalmentSettled(bytes32 indexed loanId, uint16 index, uint40 dueAt, uint32 daysPastDue);
    event LoanStatusChanged(bytes32 indexed loanId, LoanStatus status);
    event RateCapChanged(uint32 previousBps, uint32 rateCapBps, address indexed by);
    event ReminderPolicyChanged(uint16 dueSoonDays, uint16 graceDays, uint16 defaultAfterDays);
    event ReminderRaised(
        bytes32 indexed loanId,
        address indexed lender,
        uint16 indexed instalment,
        uint8 stage,
        uint40 dueAt,
        uint256 amountDue,
        uint32 daysPastDue
    );

    /// @notice Register a loan for a singly notarised agreement of the caller.
    function registerLoan(LoanTerms calldata terms, Instalment[] calldata schedule) external;

    /// @notice Record money paid out to the borrower; the first one activates the loan.
    function recordDisbursement(bytes32 loanId, uint256 amount, bytes32 toAccount, bytes32 externalRef)
        external;

    /// @notice Record a repayment, allocated to the oldest unpaid instalment first.
    function recordRepayment(bytes32 loanId, uint256 amount, bytes32 fromAccount, bytes32 externalRef)
        external;

    /// @notice Set the APR cap (REGULATOR only).
    function setRateCap(uint32 rateCapBps) external;

    /// @notice Set when reminders are raised (admin only).
    function setReminderPolicy(ReminderPolicy calldata policy) external;

    /// @notice Mark a loan Defaulted if its oldest unpaid instalment is past the default age.
    function updateStatus(bytes32 loanId) external;

    /// @notice Find reminders due now among loans [start, start + count) of the registration order.
    /// @param checkData abi.encode(uint256 start, uint256 count), or empty for the first page.
    /// @return upkeepNeeded Whether any reminder is due.
    /// @return performData abi.encode(bytes32[] loanIds, uint16[] instalments, uint8[] stages).
    function checkUpkeep(bytes calldata checkData)
        external
        view
        returns (bool upkeepNeeded, bytes memory performData);

    /// @notice Emit each listed reminder that is due now and was not emitted before.
    function performUpkeep(bytes calldata performData) external;

    function loanOf(bytes32 loanId) external view returns (Loan memory);
    function instalmentOf(bytes32 loanId, uint16 index)
        external
        view
        returns (Instalment memory instalment, uint8 remindedStages);
    function outstandingOf(bytes32 loanId) external view returns (uint256);
    function daysPastDue(bytes32 loanId) external view returns (uint32 days_, uint8 bucket);
    function rateCap() external view returns (uint32);
    function reminderPolicy() external view returns (ReminderPolicy memory);
    function loanCount() external view returns (uint256);
    function referenceUsed(address lender, bytes32 externalRef) external view returns (bool);
}
