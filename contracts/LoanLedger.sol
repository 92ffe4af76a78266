// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgreementRegistry} from "./IAgreementRegistry.sol";
import {ILoanLedger} from "./ILoanLedger.sol";

/// @title LoanLedger
/// @notice See {ILoanLedger}.
contract LoanLedger is ILoanLedger, AccessControl {
    /// @notice Role that sets the APR cap.
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    /// @notice Lenders hold NOTARY in the AgreementRegistry; the ledger trusts that role.
    bytes32 public constant NOTARY_ROLE = keccak256("NOTARY_ROLE");
    /// @notice Most instalments in one schedule.
    uint256 public constant MAX_INSTALMENTS = 360;
    /// @notice Most loans one `checkUpkeep` page scans.
    uint256 public constant MAX_SCAN = 200;
    /// @notice Most reminders one `performUpkeep` emits (bounds its gas).
    uint256 public constant MAX_REMINDERS = 32;

    uint8 private constant _STAGE_DUE_SOON = 1;
    uint8 private constant _STAGE_DUE = 2;
    uint8 private constant _STAGE_OVERDUE = 3;
    uint8 private constant _STAGE_BUCKET_BASE = 3; // bucket b (1..4) is stage 3 + b
    uint8 private constant _STAGE_MAX = 7;

    /// @dev One storage slot per instalment: schedule plus the stages already reminded (bitmask).
    struct StoredInstalment {
        uint40 dueAt;
        uint104 principal;
        uint104 interest;
        uint8 reminded;
    }

    IAgreementRegistry private immutable _registry;
    uint32 private _rateCapBps;
    ReminderPolicy private _policy;
    mapping(bytes32 loanId => Loan) private _loans;
    mapping(bytes32 loanId => mapping(uint256 index => StoredInstalment)) private _schedules;
    mapping(bytes32 lenderAndRef => bool) private _usedReferences;
    bytes32[] private _loanIds;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants REGULATOR, sets the policy).
    /// @param registry The AgreementRegistry whose agreements and NOTARY role this ledger trusts.
    /// @param rateCapBps Initial APR cap in basis points.
    /// @param policy Initial reminder policy.
    constructor(address admin, IAgreementRegistry registry, uint32 rateCapBps, ReminderPolicy memory policy) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _registry = registry;
        _setRateCap(rateCapBps);
        _setPolicy(policy);
    }

    /// @inheritdoc ILoanLedger
    function registerLoan(LoanTerms calldata terms, Instalment[] calldata schedule) external {
        _requireNotary();
        bytes32 digest = terms.agreementDigest;
        IAgreementRegistry.Record memory record = _registry.recordOf(digest);
        if (record.lender == address(0) || record.status != IAgreementRegistry.Status.Notarised) {
            revert LoanLedgerAgreementNotActive(digest);
        }
        if (record.lender != msg.sender) revert LoanLedgerNotLender(digest, msg.sender);
        if (_loans[digest].status != LoanStatus.None) revert LoanLedgerAlreadyRegistered(digest);
        if (terms.aprBps > _rateCapBps) revert LoanLedgerRateCapExceeded(terms.aprBps, _rateCapBps);

        uint104 scheduledTotal = _storeSchedule(digest, terms.principal, schedule);
        _loans[digest] = Loan({
            lender: msg.sender,
            status: LoanStatus.Registered,
            aprBps: terms.aprBps,
            instalmentCount: uint16(schedule.length),
            nextUnpaid: 0,
            currency: terms.currency,
            principal: terms.principal,
            disbursed: 0,
            repaid: 0,
            scheduledTotal: scheduledTotal,
            paidIntoNext: 0
        });
        _loanIds.push(digest);
        emit LoanRegistered(
            digest,
            msg.sender,
            terms.borrowerCommitment,
            terms.principal,
            terms.aprBps,
            _rateCapBps,
            terms.currency,
            terms.purpose,
            uint16(schedule.length),
            scheduledTotal
        );
        emit LoanStatusChanged(digest, LoanStatus.Registered);
    }

    /// @inheritdoc ILoanLedger
    function recordDisbursement(bytes32 loanId, uint256 amount, bytes32 toAccount, bytes32 externalRef)
        external
    {
        Loan storage loan = _requireLenderOf(loanId);
        if (amount == 0) revert LoanLedgerZeroAmount();
        if (loan.status != LoanStatus.Registered && loan.status != LoanStatus.Active) {
            revert LoanLedgerNotActive(loanId, loan.status);
        }
        if (loan.disbursed + amount > loan.principal) {
            revert LoanLedgerDisbursementExceedsPrincipal(loan.disbursed, amount, loan.principal);
        }
        _useReference(externalRef);
        loan.disbursed += uint104(amount);
        if (loan.status == LoanStatus.Registered) {
            loan.status = LoanStatus.Active;
            emit LoanStatusChanged(loanId, LoanStatus.Active);
        }
        emit LoanDisbursed(loanId, msg.sender, externalRef, amount, toAccount, loan.disbursed);
    }

    /// @inheritdoc ILoanLedger
    function recordRepayment(bytes32 loanId, uint256 amount, bytes32 fromAccount, bytes32 externalRef)
        external
    {
        Loan storage loan = _requireLenderOf(loanId);
        if (amount == 0) revert LoanLedgerZeroAmount();
        if (loan.status != LoanStatus.Active && loan.status != LoanStatus.Defaulted) {
            revert LoanLedgerNotActive(loanId, loan.status);
        }
        uint256 outstanding = loan.scheduledTotal - loan.repaid;
        if (amount > outstanding) revert LoanLedgerRepaymentExceedsOutstanding(amount, outstanding);
        _useReference(externalRef);
        _allocate(loanId, loan, amount);
        loan.repaid += uint104(amount);
        if (loan.repaid == loan.scheduledTotal) {
            loan.status = LoanStatus.Repaid;
            emit LoanStatusChanged(loanId, LoanStatus.Repaid);
        }
        emit LoanRepaid(loanId, msg.sender, externalRef, amount, fromAccount, outstanding - amount);
    }

    /// @inheritdoc ILoanLedger
    function setRateCap(uint32 rateCapBps) external onlyRole(REGULATOR_ROLE) {
        _setRateCap(rateCapBps);
    }

    /// @inheritdoc ILoanLedger
    function setReminderPolicy(ReminderPolicy calldata policy) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPolicy(policy);
    }

    /// @inheritdoc ILoanLedger
    function updateStatus(bytes32 loanId) external {
        if (_loans[loanId].status == LoanStatus.None) revert LoanLedgerUnknownLoan(loanId);
        _refreshDefault(loanId);
    }

    /// @inheritdoc ILoanLedger
    function performUpkeep(bytes calldata performData) external {
        (bytes32[] memory loanIds, uint16[] memory indexes, uint8[] memory stages) =
            abi.decode(performData, (bytes32[], uint16[], uint8[]));
        uint256 n = loanIds.length;
        if (n > MAX_REMINDERS) revert LoanLedgerPerformDataTooLong(n, MAX_REMINDERS);
        if (indexes.length != n || stages.length != n) revert LoanLedgerPerformDataTooLong(n, 0);
        for (uint256 i = 0; i < n; ++i) {
            _remind(loanIds[i], indexes[i], stages[i]);
        }
    }

    /// @inheritdoc ILoanLedger
    function checkUpkeep(bytes calldata checkData)
        external
        view
        returns (bool upkeepNeeded, bytes memory performData)
    {
        (uint256 start, uint256 count) = checkData.length == 0 ? (0, MAX_SCAN) : abi.decode(checkData, (uint256, uint256));
        if (count > MAX_SCAN) count = MAX_SCAN;
        uint256 end = start + count > _loanIds.length ? _loanIds.length : start + count;
        bytes32[] memory ids = new bytes32[](MAX_REMINDERS);
        uint16[] memory indexes = new uint16[](MAX_REMINDERS);
        uint8[] memory stages = new uint8[](MAX_REMINDERS);
        uint256 found = 0;
        for (uint256 l = start; l < end && found < MAX_REMINDERS; ++l) {
            found = _collect(_loanIds[l], ids, indexes, stages, found);
        }
        assembly ("memory-safe") {
            mstore(ids, found)
            mstore(indexes, found)
            mstore(stages, found)
        }
        return (found > 0, abi.encode(ids, indexes, stages));
    }

    /// @inheritdoc ILoanLedger
    function loanOf(bytes32 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    /// @inheritdoc ILoanLedger
    function instalmentOf(bytes32 loanId, uint16 index)
        external
        view
        returns (Instalment memory instalment, uint8 remindedStages)
    {
        StoredInstalment memory s = _schedules[loanId][index];
        return (Instalment({dueAt: s.dueAt, principal: s.principal, interest: s.interest}), s.reminded);
    }

    /// @inheritdoc ILoanLedger
    function outstandingOf(bytes32 loanId) external view returns (uint256) {
        Loan storage loan = _loans[loanId];
        return loan.scheduledTotal - loan.repaid;
    }

    /// @inheritdoc ILoanLedger
    function daysPastDue(bytes32 loanId) external view returns (uint32 days_, uint8 bucket) {
        days_ = _oldestDaysPastDue(loanId);
        bucket = _bucket(days_);
    }

    /// @inheritdoc ILoanLedger
    function rateCap() external view returns (uint32) {
        return _rateCapBps;
    }

    /// @inheritdoc ILoanLedger
    function reminderPolicy() external view returns (ReminderPolicy memory) {
        return _policy;
    }

    /// @inheritdoc ILoanLedger
    function loanCount() external view returns (uint256) {
        return _loanIds.length;
    }

    /// @inheritdoc ILoanLedger
    function referenceUsed(address lender, bytes32 externalRef) external view returns (bool) {
        return _usedReferences[keccak256(abi.encode(lender, externalRef))];
    }

    function _storeSchedule(bytes32 loanId, uint104 principal, Instalment[] calldata schedule)
        private
        returns (uint104 total)
    {
        uint256 n = schedule.length;
        if (n == 0 || n > MAX_INSTALMENTS) revert LoanLedgerInvalidSchedule(n, "instalment count");
        uint256 principalSum = 0;
        uint256 previousDue = 0;
        for (uint256 i = 0; i < n; ++i) {
            Instalment calldata inst = schedule[i];
            if (inst.dueAt <= previousDue) revert LoanLedgerInvalidSchedule(i, "due dates must increase");
            if (uint256(inst.principal) + inst.interest == 0) revert LoanLedgerInvalidSchedule(i, "zero amount");
            previousDue = inst.dueAt;
            principalSum += inst.principal;
            total += inst.principal + inst.interest;
            _schedules[loanId][i] =
                StoredInstalment({dueAt: inst.dueAt, principal: inst.principal, interest: inst.interest, reminded: 0});
        }
        if (principalSum != principal) revert LoanLedgerInvalidSchedule(n, "principal parts must sum to principal");
    }

    function _allocate(bytes32 loanId, Loan storage loan, uint256 amount) private {
        uint256 index = loan.nextUnpaid;
        uint256 paidIntoNext = loan.paidIntoNext;
        uint256 count = loan.instalmentCount;
        while (amount > 0 && index < count) {
            StoredInstalment storage inst = _schedules[loanId][index];
            uint256 due = uint256(inst.principal) + inst.interest - paidIntoNext;
            if (amount < due) {
                paidIntoNext += amount;
                amount = 0;
                break;
            }
            amount -= due;
            paidIntoNext = 0;
            emit InstalmentSettled(loanId, uint16(index), inst.dueAt, _daysPastDue(inst.dueAt));
            ++index;
        }
        loan.nextUnpaid = uint16(index);
        loan.paidIntoNext = uint104(paidIntoNext);
    }

    function _collect(
        bytes32 loanId,
        bytes32[] memory ids,
        uint16[] memory indexes,
        uint8[] memory stages,
        uint256 found
    ) private view returns (uint256) {
        Loan storage loan = _loans[loanId];
        if (loan.status != LoanStatus.Active && loan.status != LoanStatus.Defaulted) return found;
        uint256 soon = uint256(_policy.dueSoonDays) * 1 days;
        for (uint256 i = loan.nextUnpaid; i < loan.instalmentCount && found < MAX_REMINDERS; ++i) {
            StoredInstalment storage inst = _schedules[loanId][i];
            if (block.timestamp + soon < inst.dueAt) break; // later instalments are due later
            (uint8 track, uint8 bucketStage) = _stagesAt(inst.dueAt);
            uint8 reminded = inst.reminded;
            if (track != 0 && reminded & (1 << track) == 0) {
                (ids[found], indexes[found], stages[found]) = (loanId, uint16(i), track);
                ++found;
            }
            if (bucketStage != 0 && found < MAX_REMINDERS && reminded & (1 << bucketStage) == 0) {
                (ids[found], indexes[found], stages[found]) = (loanId, uint16(i), bucketStage);
                ++found;
            }
        }
        return found;
    }

    /// @dev Re-check one reminder against the chain; emit it only if it is due now and new.
    function _remind(bytes32 loanId, uint16 index, uint8 stage) private {
        Loan storage loan = _loans[loanId];
        if (loan.status != LoanStatus.Active && loan.status != LoanStatus.Defaulted) return;
        if (index < loan.nextUnpaid || index >= loan.instalmentCount) return;
        if (stage == 0 || stage > _STAGE_MAX) return;
        StoredInstalment storage inst = _schedules[loanId][index];
        (uint8 track, uint8 bucketStage) = _stagesAt(inst.dueAt);
        if (stage != track && stage != bucketStage) return;
        uint8 mask = uint8(1 << stage);
        if (inst.reminded & mask != 0) return;
        inst.reminded |= mask;
        uint256 due = uint256(inst.principal) + inst.interest;
        if (index == loan.nextUnpaid) due -= loan.paidIntoNext;
        emit ReminderRaised(loanId, loan.lender, index, stage, inst.dueAt, due, _daysPastDue(inst.dueAt));
        _refreshDefault(loanId);
    }

    function _refreshDefault(bytes32 loanId) private {
        Loan storage loan = _loans[loanId];
        if (loan.status != LoanStatus.Active) return;
        if (_oldestDaysPastDue(loanId) > _policy.defaultAfterDays) {
            loan.status = LoanStatus.Defaulted;
            emit LoanStatusChanged(loanId, LoanStatus.Defaulted);
        }
    }

    function _oldestDaysPastDue(bytes32 loanId) private view returns (uint32) {
        Loan storage loan = _loans[loanId];
        if (loan.nextUnpaid >= loan.instalmentCount) return 0;
        return _daysPastDue(_schedules[loanId][loan.nextUnpaid].dueAt);
    }

    function _stagesAt(uint40 dueAt) private view returns (uint8 track, uint8 bucketStage) {
        uint256 nowTs = block.timestamp;
        if (nowTs < dueAt) {
            uint256 soon = uint256(_policy.dueSoonDays) * 1 days;
            track = soon > 0 && nowTs + soon >= dueAt ? _STAGE_DUE_SOON : 0;
        } else if (nowTs < uint256(dueAt) + uint256(_policy.graceDays) * 1 days) {
            track = _STAGE_DUE;
        } else {
            track = _STAGE_OVERDUE;
        }
        uint8 b = _bucket(_daysPastDue(dueAt));
        bucketStage = b == 0 ? 0 : _STAGE_BUCKET_BASE + b;
    }

    function _daysPastDue(uint40 dueAt) private view returns (uint32) {
        return block.timestamp < dueAt ? 0 : uint32((block.timestamp - dueAt) / 1 days);
    }

    function _bucket(uint32 days_) private pure returns (uint8) {
        if (days_ == 0) return 0;
        if (days_ <= 30) return 1;
        if (days_ <= 60) return 2;
        if (days_ <= 90) return 3;
        return 4;
    }

    function _requireNotary() private view {
        if (!IAccessControl(address(_registry)).hasRole(NOTARY_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, NOTARY_ROLE);
        }
    }

    function _requireLenderOf(bytes32 loanId) private view returns (Loan storage loan) {
        loan = _loans[loanId];
        if (loan.status == LoanStatus.None) revert LoanLedgerUnknownLoan(loanId);
        _requireNotary();
        if (loan.lender != msg.sender) revert LoanLedgerNotLender(loanId, msg.sender);
    }

    function _useReference(bytes32 externalRef) private {
        bytes32 key = keccak256(abi.encode(msg.sender, externalRef));
        if (_usedReferences[key]) revert LoanLedgerReferenceUsed(externalRef);
        _usedReferences[key] = true;
    }

    function _setRateCap(uint32 rateCapBps) private {
        if (rateCapBps == 0 || rateCapBps > 100_000) revert LoanLedgerInvalidRateCap(rateCapBps);
        uint32 previous = _rateCapBps;
        _rateCapBps = rateCapBps;
        emit RateCapChanged(previous, rateCapBps, msg.sender);
    }

    function _setPolicy(ReminderPolicy memory policy) private {
        if (policy.defaultAfterDays == 0) revert LoanLedgerInvalidPolicy();
        _policy = policy;
        emit ReminderPolicyChanged(policy.dueSoonDays, policy.graceDays, policy.defaultAfterDays);
    }
}
