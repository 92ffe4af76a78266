// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAgreementRegistry, IOpenLoans} from "./IAgreementRegistry.sol";

/// @title Ledger of notarised loans: schedules, money movements, contract-raised reminders
/// @notice A loan is bound to an agreement notarised (and not revoked or superseded) in the
/// AgreementRegistry, by the lender that notarised it, and to exactly the terms and schedule
/// the borrower signed. The rate cap (4 × the one-year LPR in force at notarisation) is
/// checked on every instalment's interest plus fees. Amounts are integer minor units.
/// Loans are keyed by the agreement id.
/// Days past due and delinquency buckets are computed exactly as loantrace's Python domain:
/// `daysPastDue = now < dueAt ? 0 : (now - dueAt) / 1 days`; buckets 1-30, 31-60, 61-90, 90+.
/// Reminders follow the keeper convention: `checkUpkeep` (view, bounded) finds them,
/// `performUpkeep` (permissionless) re-checks each one against the chain and emits it once.
/// Every stage an unpaid instalment has reached is raised, exactly once, even if the keeper
/// ran late: stage 1 due soon from `dueAt - dueSoonDays` (never when 0), 2 due from `dueAt`,
/// 3 overdue from `dueAt + graceDays`, bucket b (stage 3 + b) from 1, 31, 61, 91 days past due.
interface ILoanLedger is IOpenLoans {
    /// @notice Lifecycle of a loan.
    enum LoanStatus {
        None,
        Registered,
        Active,
        Repaid,
        Defaulted
    }

    /// @notice One instalment of a repayment schedule, exactly as the borrower signed it
    /// (EIP-712 `Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)`).
    struct Instalment {
        uint64 dueAt;
        uint256 principal;
        uint256 interest;
        uint256 fees;
    }

    /// @notice The key terms a loan is registered with, exactly as the borrower signed them
    /// (EIP-712 `LoanTerms`, whose last member is the `Instalment[] schedule`).
    /// @param principal Principal in minor units.
    /// @param currency ISO 4217 code, e.g. "CNY".
    /// @param startAt When the loan starts (unix seconds): the first period runs from here.
    /// @param purpose Declared purpose code, e.g. "CONSUMPTION" (left-aligned bytes32).
    /// @param repaymentMethod 1 annuity, 2 equal principal, 3 bullet, 4 custom.
    /// @param aprBps Declared annual percentage rate in basis points.
    struct LoanTerms {
        uint256 principal;
        bytes3 currency;
        uint64 startAt;
        bytes32 purpose;
        uint8 repaymentMethod;
        uint32 aprBps;
    }

    /// @notice One instalment as stored: `charges` is its interest plus fees.
    struct ScheduledInstalment {
        uint40 dueAt;
        uint104 principal;
        uint104 charges;
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
        uint32 rateCapBps;
        uint104 repaid;
        uint104 scheduledTotal;
        uint104 paidIntoNext;
        uint64 startAt;
    }

    /// @notice A one-year LPR recorded by the regulator, in force from `effectiveAt`.
    struct LprEntry {
        uint64 effectiveAt;
        uint32 lprBps;
    }

    /// @notice When reminders are raised.
    struct ReminderPolicy {
        uint16 dueSoonDays;
        uint16 graceDays;
        uint16 defaultAfterDays;
    }

    /// @notice The agreement is not notarised, or no longer in force (superseded, revoked).
    error LoanLedgerAgreementNotActive(bytes32 agreementId);
    /// @notice Only the loan's (or agreement's) lender may do this.
    error LoanLedgerNotLender(bytes32 loanId, address caller);
    /// @notice A loan is already registered on this agreement.
    error LoanLedgerAlreadyRegistered(bytes32 loanId);
    /// @notice No loan is registered under this id.
    error LoanLedgerUnknownLoan(bytes32 loanId);
    /// @notice The terms and schedule given hash to `given`, but the borrower signed `signed`.
    error LoanLedgerTermsMismatch(bytes32 signed, bytes32 given);
    /// @notice The declared APR is above the cap in force when the agreement was notarised.
    error LoanLedgerDeclaredAprAboveCap(uint32 aprBps, uint32 rateCapBps);
    /// @notice Instalment `index` charges `charges` (interest plus fees), more than the
    /// `allowed` by the cap on the outstanding principal over its period.
    error LoanLedgerRateCapExceeded(uint256 index, uint256 charges, uint256 allowed);
    /// @notice A schedule needs 1..MAX_INSTALMENTS instalments.
    error LoanLedgerInstalmentCount(uint256 count);
    /// @notice Instalment `index` falls due at `dueAt`, not after the start or the previous one.
    error LoanLedgerDueNotAfterPrevious(uint256 index, uint256 dueAt, uint256 previous);
    /// @notice Instalment `index` asks for nothing.
    error LoanLedgerZeroInstalment(uint256 index);
    /// @notice The principal parts sum to `scheduled`, not to the principal.
    error LoanLedgerPrincipalMismatch(uint256 scheduled, uint256 principal);
    /// @notice An amount is too large to store (above 2^104 - 1), or a time above 2^40 - 1.
    error LoanLedgerAmountTooLarge(uint256 amount);
    /// @notice The loan starts more than MAX_BACKDATE before its agreement was notarised.
    error LoanLedgerStartTooEarly(uint64 startAt, uint64 notarisedAt);
    /// @notice A money movement of zero.
    error LoanLedgerZeroAmount();
    /// @notice The disbursement would take the total disbursed above the principal.
    error LoanLedgerDisbursementExceedsPrincipal(uint256 disbursed, uint256 amount, uint256 principal);
    /// @notice The repayment is larger than what is still owed.
    error LoanLedgerRepaymentExceedsOutstanding(uint256 amount, uint256 outstanding);
    /// @notice The loan is not in a state that allows this.
    error LoanLedgerNotActive(bytes32 loanId, LoanStatus status);
    /// @notice The caller already used this external reference.
    error LoanLedgerReferenceUsed(bytes32 externalRef);
    /// @notice An LPR must be 1..25,000 bps (so the cap stays within 100,000 bps).
    error LoanLedgerInvalidLpr(uint32 lprBps);
    /// @notice An LPR change must take effect now or later, after the last recorded one.
    error LoanLedgerLprNotForward(uint64 effectiveAt, uint64 lastEffectiveAt);
    /// @notice A reminder policy needs a positive default age.
    error LoanLedgerInvalidPolicy();
    /// @notice `performUpkeep` got too many entries (or arrays of different lengths).
    error LoanLedgerPerformDataTooLong(uint256 entries, uint256 maximum);

    /// @notice A loan was registered on agreement `loanId` with these key terms and schedule total.
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
    /// @notice The lender paid `amount` out to the borrower's `toAccount` (`totalDisbursed` so far).
    event LoanDisbursed(
        bytes32 indexed loanId,
        address indexed lender,
        bytes32 indexed externalRef,
        uint256 amount,
        bytes32 toAccount,
        uint256 totalDisbursed,
        uint64 disbursedAt
    );
    /// @notice The lender recorded a repayment of `amount`; `outstanding` is what is still owed.
    event LoanRepaid(
        bytes32 indexed loanId,
        address indexed lender,
        bytes32 indexed externalRef,
        uint256 amount,
        bytes32 fromAccount,
        uint256 outstanding
    );
    /// @notice The loan's terms and full schedule, as signed, and the LPR the cap came from.
    event LoanTermsBound(
        bytes32 indexed loanId,
        bytes32 indexed agreementDigest,
        bytes32 termsDigest,
        uint64 startAt,
        uint8 repaymentMethod,
        uint32 lprBps,
        Instalment[] schedule
    );
    /// @notice Instalment `index`, due at `dueAt`, was paid in full `daysPastDue` days past due.
    event InstalmentSettled(bytes32 indexed loanId, uint16 index, uint40 dueAt, uint32 daysPastDue);
    /// @notice The loan moved to `status`.
    event LoanStatusChanged(bytes32 indexed loanId, LoanStatus status);
    /// @notice The regulator recorded a one-year LPR in force from `effectiveAt`; the cap
    /// for agreements notarised from then on is `rateCapBps` (4 × LPR).
    event LprRecorded(uint32 lprBps, uint32 rateCapBps, uint64 effectiveAt, address indexed by);
    /// @notice The reminder policy was set (in whole days).
    event ReminderPolicyChanged(uint16 dueSoonDays, uint16 graceDays, uint16 defaultAfterDays);
    /// @notice Instalment `instalment` of a loan reached reminder `stage` (1 due soon, 2 due,
    /// 3 overdue, 3 + b bucket b) and was still unpaid; `amountDue` is what it still asks and
    /// `daysPastDue` its real days past due when raised (late if the keeper caught up).
    event ReminderRaised(
        bytes32 indexed loanId,
        address indexed lender,
        uint16 indexed instalment,
        uint8 stage,
        uint40 dueAt,
        uint256 amountDue,
        uint32 daysPastDue
    );

    /// @notice Register a loan on the caller's singly notarised `agreement`. The terms and
    /// schedule must hash to the agreement's `termsDigest` (what the borrower signed); every
    /// instalment's interest plus fees must be within the cap in force at notarisation.
    /// @return loanId The agreement id.
    function registerLoan(
        IAgreementRegistry.Agreement calldata agreement,
        LoanTerms calldata terms,
        Instalment[] calldata schedule
    ) external returns (bytes32 loanId);

    /// @notice Register a loan on an agreement of the caller's batch `root`, proven by
    /// `proof`; both signatures in the leaf are checked on chain. Otherwise as {registerLoan}.
    function registerBatchedLoan(
        bytes32 root,
        IAgreementRegistry.AgreementLeaf calldata leaf,
        bytes32[] calldata proof,
        LoanTerms calldata terms,
        Instalment[] calldata schedule
    ) external returns (bytes32 loanId);

    /// @notice Record money paid out to the borrower; the first one activates the loan.
    function recordDisbursement(bytes32 loanId, uint256 amount, bytes32 toAccount, bytes32 externalRef)
        external;

    /// @notice Record a repayment, allocated to the oldest unpaid instalment first.
    function recordRepayment(bytes32 loanId, uint256 amount, bytes32 fromAccount, bytes32 externalRef)
        external;

    /// @notice Record the one-year LPR in force from `effectiveAt` (REGULATOR only). It
    /// cannot be backdated: agreements already notarised keep the cap of their time.
    function recordLpr(uint32 lprBps, uint64 effectiveAt) external;

    /// @notice Set when reminders are raised (admin only).
    function setReminderPolicy(ReminderPolicy calldata policy) external;

    /// @notice Mark a loan Defaulted if its oldest unpaid instalment is past the default age.
    function updateStatus(bytes32 loanId) external;

    /// @notice Find reminders due now among loans [start, start + count) of the registration order:
    /// every stage an unpaid instalment has reached and that was not raised yet, at most
    /// MAX_REMINDERS, oldest instalment first and each instalment's stages in the order they began.
    /// @param checkData abi.encode(uint256 start, uint256 count), or empty for the first page.
    /// @return upkeepNeeded Whether any reminder is due.
    /// @return performData abi.encode(bytes32[] loanIds, uint16[] instalments, uint8[] stages).
    function checkUpkeep(bytes calldata checkData)
        external
        view
        returns (bool upkeepNeeded, bytes memory performData);

    /// @notice Emit each listed reminder whose stage the instalment has reached (current or
    /// passed), that is unpaid on an active or defaulted loan and was not emitted before; other
    /// entries emit nothing. Reverts if more than MAX_REMINDERS entries are given.
    /// @param performData abi.encode(bytes32[] loanIds, uint16[] instalments, uint8[] stages),
    /// as {checkUpkeep} returns it.
    function performUpkeep(bytes calldata performData) external;

    /// @notice The loan stored under `loanId` (status None when there is none).
    function loanOf(bytes32 loanId) external view returns (Loan memory);
    /// @notice Instalment `index` of a loan and the bitmask of stages already reminded.
    function instalmentOf(bytes32 loanId, uint16 index)
        external
        view
        returns (ScheduledInstalment memory instalment, uint8 remindedStages);
    /// @notice What is still owed on the loan.
    function outstandingOf(bytes32 loanId) external view returns (uint256);
    /// @notice Days past due and bucket of the oldest unpaid instalment, at chain time.
    function daysPastDue(bytes32 loanId) external view returns (uint32 days_, uint8 bucket);
    /// @notice The APR cap in force now, in basis points.
    function rateCap() external view returns (uint32);
    /// @notice The APR cap and the LPR it derives from, in force at `timestamp`.
    function rateCapAt(uint64 timestamp) external view returns (uint32 rateCapBps, uint32 lprBps);
    /// @notice How many LPR entries are recorded.
    function lprCount() external view returns (uint256);
    /// @notice LPR entry `index`, oldest first.
    function lprEntry(uint256 index) external view returns (LprEntry memory);
    /// @notice The EIP-712 struct hash of `terms` with `schedule`: what a termsDigest must equal.
    function hashTerms(LoanTerms calldata terms, Instalment[] calldata schedule) external pure returns (bytes32);
    /// @notice Check a schedule as registration does under `capBps`, reverting with the same
    /// error (for lenders and regulators to test a plan); return what it asks in total.
    function checkSchedule(LoanTerms calldata terms, Instalment[] calldata schedule, uint32 capBps)
        external
        pure
        returns (uint256 scheduledTotal);
    /// @notice When reminders are raised.
    function reminderPolicy() external view returns (ReminderPolicy memory);
    /// @notice How many loans are registered.
    function loanCount() external view returns (uint256);
    /// @notice Whether `lender` already used `externalRef`.
    function referenceUsed(address lender, bytes32 externalRef) external view returns (bool);
    /// @notice Version of this contract's interface.
    function version() external pure returns (string memory);
}
