// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAgreementRegistry, IOpenLoans} from "./IAgreementRegistry.sol";
import {ILoanLedger} from "./ILoanLedger.sol";

/// @title LoanLedger
/// @notice See {ILoanLedger}.
contract LoanLedger is ILoanLedger, AccessControl {
    /// @notice Role that records the one-year LPR (and so the cap).
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

    /// @notice The cap is this many times the one-year LPR in force at notarisation.
    uint32 public constant CAP_MULTIPLIER = 4;
    /// @notice How long before its notarisation a loan may start (signing precedes anchoring).
    uint64 public constant MAX_BACKDATE = 7 days;

    bytes32 private constant _INSTALMENT_TYPEHASH =
        keccak256("Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)");
    bytes32 private constant _LOAN_TERMS_TYPEHASH = keccak256(
        "LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)"
        "Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)"
    );
    uint256 private constant _YEAR_BPS = 365 days * 10_000;

    /// @dev One storage slot per instalment: schedule plus the stages already reminded (bitmask).
    struct StoredInstalment {
        uint40 dueAt;
        uint104 principal;
        uint104 charges;
        uint8 reminded;
    }

    /// @dev The reminders {checkUpkeep} found so far: `count` entries of the arrays are used.
    struct Found {
        bytes32[] ids;
        uint16[] indexes;
        uint8[] stages;
        uint256 count;
    }

    IAgreementRegistry private immutable _registry;
    LprEntry[] private _lprHistory;
    ReminderPolicy private _policy;
    mapping(bytes32 loanId => Loan) private _loans;
    mapping(bytes32 loanId => mapping(uint256 index => StoredInstalment)) private _schedules;
    mapping(bytes32 lenderAndRef => bool) private _usedReferences;
    bytes32[] private _loanIds;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants REGULATOR, sets the policy).
    /// @param registry The AgreementRegistry whose agreements and NOTARY role this ledger trusts.
    /// @param lprBps One-year LPR in force from deployment (the cap is 4 × LPR).
    /// @param policy Initial reminder policy.
    constructor(address admin, IAgreementRegistry registry, uint32 lprBps, ReminderPolicy memory policy) {
        if (admin == address(0) || address(registry) == address(0)) revert LoanLedgerInvalidPolicy();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _registry = registry;
        _pushLpr(lprBps, 0);
        _setPolicy(policy);
    }

    /// @inheritdoc ILoanLedger
    function registerLoan(
        IAgreementRegistry.Agreement calldata agreement,
        LoanTerms calldata terms,
        Instalment[] calldata schedule
    ) external returns (bytes32 loanId) {
        _requireNotary();
        _requireSignedTerms(agreement.termsDigest, terms, schedule);
        loanId = _registry.hashAgreement(agreement);
        IAgreementRegistry.Record memory record = _registry.recordOf(loanId);
        if (record.lender == address(0) || record.status != IAgreementRegistry.Status.Notarised) {
            revert LoanLedgerAgreementNotActive(loanId);
        }
        if (record.lender != msg.sender) revert LoanLedgerNotLender(loanId, msg.sender);
        _register(loanId, agreement, terms, schedule, record.notarisedAt);
    }

    /// @inheritdoc ILoanLedger
    function registerBatchedLoan(
        bytes32 root,
        IAgreementRegistry.AgreementLeaf calldata leaf,
        bytes32[] calldata proof,
        LoanTerms calldata terms,
        Instalment[] calldata schedule
    ) external returns (bytes32 loanId) {
        _requireNotary();
        _requireSignedTerms(leaf.agreement.termsDigest, terms, schedule);
        IAgreementRegistry.Batch memory batch;
        IAgreementRegistry.Status status;
        (loanId, batch, status) = _registry.batchedAgreement(root, leaf, proof);
        if (status != IAgreementRegistry.Status.Notarised) revert LoanLedgerAgreementNotActive(loanId);
        if (batch.lender != msg.sender) revert LoanLedgerNotLender(loanId, msg.sender);
        _register(loanId, leaf.agreement, terms, schedule, batch.anchoredAt);
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
        emit LoanDisbursed(loanId, msg.sender, externalRef, amount, toAccount, loan.disbursed, uint64(block.timestamp));
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
    function recordLpr(uint32 lprBps, uint64 effectiveAt) external onlyRole(REGULATOR_ROLE) {
        uint64 last = _lprHistory[_lprHistory.length - 1].effectiveAt;
        if (effectiveAt < block.timestamp || effectiveAt <= last) revert LoanLedgerLprNotForward(effectiveAt, last);
        _pushLpr(lprBps, effectiveAt);
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
        Found memory found = Found({
            ids: new bytes32[](MAX_REMINDERS),
            indexes: new uint16[](MAX_REMINDERS),
            stages: new uint8[](MAX_REMINDERS),
            count: 0
        });
        uint256 order = _stageOrder();
        for (uint256 l = start; l < end && found.count < MAX_REMINDERS; ++l) {
            _collect(_loanIds[l], found, order);
        }
        (bytes32[] memory ids, uint16[] memory indexes, uint8[] memory stages, uint256 n) =
            (found.ids, found.indexes, found.stages, found.count);
        assembly ("memory-safe") {
            mstore(ids, n)
            mstore(indexes, n)
            mstore(stages, n)
        }
        return (n > 0, abi.encode(ids, indexes, stages));
    }

    /// @inheritdoc ILoanLedger
    function loanOf(bytes32 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    /// @inheritdoc ILoanLedger
    function instalmentOf(bytes32 loanId, uint16 index)
        external
        view
        returns (ScheduledInstalment memory instalment, uint8 remindedStages)
    {
        StoredInstalment memory s = _schedules[loanId][index];
        return (ScheduledInstalment({dueAt: s.dueAt, principal: s.principal, charges: s.charges}), s.reminded);
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

    /// @inheritdoc IOpenLoans
    function hasOpenLoan(bytes32 loanId) external view returns (bool) {
        LoanStatus status = _loans[loanId].status;
        return status == LoanStatus.Registered || status == LoanStatus.Active || status == LoanStatus.Defaulted;
    }

    /// @inheritdoc ILoanLedger
    function rateCap() external view returns (uint32 rateCapBps) {
        (rateCapBps,) = _capAt(uint64(block.timestamp));
    }

    /// @inheritdoc ILoanLedger
    function rateCapAt(uint64 timestamp) external view returns (uint32 rateCapBps, uint32 lprBps) {
        return _capAt(timestamp);
    }

    /// @inheritdoc ILoanLedger
    function lprCount() external view returns (uint256) {
        return _lprHistory.length;
    }

    /// @inheritdoc ILoanLedger
    function lprEntry(uint256 index) external view returns (LprEntry memory) {
        return _lprHistory[index];
    }

    /// @inheritdoc ILoanLedger
    function hashTerms(LoanTerms calldata terms, Instalment[] calldata schedule) external pure returns (bytes32) {
        return _hashTerms(terms, schedule);
    }

    /// @inheritdoc ILoanLedger
    function checkSchedule(LoanTerms calldata terms, Instalment[] calldata schedule, uint32 capBps)
        external
        pure
        returns (uint256 scheduledTotal)
    {
        return _checkSchedule(terms, schedule, capBps);
    }

    /// @inheritdoc ILoanLedger
    function version() external pure returns (string memory) {
        return "2.1.0";
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

    function _register(
        bytes32 loanId,
        IAgreementRegistry.Agreement calldata agreement,
        LoanTerms calldata terms,
        Instalment[] calldata schedule,
        uint64 notarisedAt
    ) private {
        if (_loans[loanId].status != LoanStatus.None) revert LoanLedgerAlreadyRegistered(loanId);
        if (terms.startAt + MAX_BACKDATE < notarisedAt) revert LoanLedgerStartTooEarly(terms.startAt, notarisedAt);
        (uint32 capBps, uint32 lprBps) = _capAt(notarisedAt);
        if (terms.aprBps > capBps) revert LoanLedgerDeclaredAprAboveCap(terms.aprBps, capBps);
        uint104 scheduledTotal = _storeSchedule(loanId, terms, schedule, capBps);
        _loans[loanId] = Loan({
            lender: msg.sender,
            status: LoanStatus.Registered,
            aprBps: terms.aprBps,
            instalmentCount: uint16(schedule.length),
            nextUnpaid: 0,
            currency: terms.currency,
            principal: uint104(terms.principal),
            disbursed: 0,
            rateCapBps: capBps,
            repaid: 0,
            scheduledTotal: scheduledTotal,
            paidIntoNext: 0,
            startAt: terms.startAt
        });
        _loanIds.push(loanId);
        emit LoanRegistered(
            loanId,
            msg.sender,
            agreement.borrowerCommitment,
            terms.principal,
            terms.aprBps,
            capBps,
            terms.currency,
            terms.purpose,
            uint16(schedule.length),
            scheduledTotal
        );
        emit LoanTermsBound(
            loanId, agreement.digest, agreement.termsDigest, terms.startAt, terms.repaymentMethod, lprBps, schedule
        );
        emit LoanStatusChanged(loanId, LoanStatus.Registered);
    }

    /// @dev Store the schedule (checked first by {_checkSchedule}); return its total.
    function _storeSchedule(bytes32 loanId, LoanTerms calldata terms, Instalment[] calldata schedule, uint32 capBps)
        private
        returns (uint104 total)
    {
        total = _checkSchedule(terms, schedule, capBps);
        for (uint256 i = 0; i < schedule.length; ++i) {
            Instalment calldata inst = schedule[i];
            _schedules[loanId][i] = StoredInstalment({
                dueAt: uint40(inst.dueAt),
                principal: uint104(inst.principal),
                charges: uint104(inst.interest + inst.fees),
                reminded: 0
            });
        }
    }

    /// @dev Revert unless the schedule is well formed and every instalment's interest plus fees
    /// is within the cap on the outstanding principal over its period; return its total.
    function _checkSchedule(LoanTerms calldata terms, Instalment[] calldata schedule, uint32 capBps)
        private
        pure
        returns (uint104)
    {
        uint256 n = schedule.length;
        if (n == 0 || n > MAX_INSTALMENTS) revert LoanLedgerInstalmentCount(n);
        uint256 outstanding = terms.principal;
        if (outstanding == 0 || outstanding > type(uint104).max) revert LoanLedgerAmountTooLarge(outstanding);
        uint256 previous = terms.startAt;
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            Instalment calldata inst = schedule[i];
            if (inst.dueAt <= previous) revert LoanLedgerDueNotAfterPrevious(i, inst.dueAt, previous);
            if (inst.dueAt > type(uint40).max) revert LoanLedgerAmountTooLarge(inst.dueAt);
            if (inst.interest > type(uint104).max || inst.fees > type(uint104).max) {
                revert LoanLedgerAmountTooLarge(inst.interest > inst.fees ? inst.interest : inst.fees);
            }
            if (inst.principal > outstanding) revert LoanLedgerPrincipalMismatch(inst.principal, outstanding);
            uint256 charges = inst.interest + inst.fees;
            if (inst.principal + charges == 0) revert LoanLedgerZeroInstalment(i);
            // interest + fees <= outstanding × cap × period / 365 days, in integers
            uint256 ceiling = outstanding * capBps * (inst.dueAt - previous);
            if (charges * _YEAR_BPS > ceiling) revert LoanLedgerRateCapExceeded(i, charges, ceiling / _YEAR_BPS);
            outstanding -= inst.principal;
            previous = inst.dueAt;
            total += inst.principal + charges;
        }
        if (outstanding != 0) revert LoanLedgerPrincipalMismatch(terms.principal - outstanding, terms.principal);
        if (total > type(uint104).max) revert LoanLedgerAmountTooLarge(total);
        return uint104(total);
    }

    function _requireSignedTerms(bytes32 signed, LoanTerms calldata terms, Instalment[] calldata schedule)
        private
        pure
    {
        bytes32 given = _hashTerms(terms, schedule);
        if (given != signed) revert LoanLedgerTermsMismatch(signed, given);
    }

    function _hashTerms(LoanTerms calldata terms, Instalment[] calldata schedule) private pure returns (bytes32) {
        uint256 n = schedule.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            Instalment calldata inst = schedule[i];
            hashes[i] = keccak256(abi.encode(_INSTALMENT_TYPEHASH, inst.dueAt, inst.principal, inst.interest, inst.fees));
        }
        return keccak256(
            abi.encode(
                _LOAN_TERMS_TYPEHASH,
                terms.principal,
                terms.currency,
                terms.startAt,
                terms.purpose,
                terms.repaymentMethod,
                terms.aprBps,
                keccak256(abi.encodePacked(hashes))
            )
        );
    }

    /// @dev The cap and LPR of the latest entry in force at `timestamp` (binary search).
    function _capAt(uint64 timestamp) private view returns (uint32 capBps, uint32 lprBps) {
        uint256 low = 0;
        uint256 high = _lprHistory.length; // entry 0 is in force from time 0
        while (high - low > 1) {
            uint256 mid = (low + high) / 2;
            if (_lprHistory[mid].effectiveAt <= timestamp) low = mid;
            else high = mid;
        }
        lprBps = _lprHistory[low].lprBps;
        capBps = lprBps * CAP_MULTIPLIER;
    }

    function _pushLpr(uint32 lprBps, uint64 effectiveAt) private {
        if (lprBps == 0 || lprBps > 25_000) revert LoanLedgerInvalidLpr(lprBps);
        _lprHistory.push(LprEntry({effectiveAt: effectiveAt, lprBps: lprBps}));
        emit LprRecorded(lprBps, lprBps * CAP_MULTIPLIER, effectiveAt, msg.sender);
    }

    function _allocate(bytes32 loanId, Loan storage loan, uint256 amount) private {
        uint256 index = loan.nextUnpaid;
        uint256 paidIntoNext = loan.paidIntoNext;
        uint256 count = loan.instalmentCount;
        while (amount > 0 && index < count) {
            StoredInstalment storage inst = _schedules[loanId][index];
            uint256 due = uint256(inst.principal) + inst.charges - paidIntoNext;
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

    /// @dev Append the loan's reminders that are due and not raised yet, oldest instalment first.
    function _collect(bytes32 loanId, Found memory found, uint256 order) private view {
        Loan storage loan = _loans[loanId];
        if (loan.status != LoanStatus.Active && loan.status != LoanStatus.Defaulted) return;
        uint256 soon = uint256(_policy.dueSoonDays) * 1 days;
        uint256 count = loan.instalmentCount;
        for (uint256 i = loan.nextUnpaid; i < count && found.count < MAX_REMINDERS; ++i) {
            StoredInstalment storage inst = _schedules[loanId][i];
            if (block.timestamp + soon < inst.dueAt) break; // later instalments are due later
            _collectStages(loanId, uint16(i), inst.dueAt, inst.reminded, found, order);
        }
    }

    /// @dev Append one instalment's stages begun and not raised yet, in the order they began
    /// (`order`, from {_stageOrder}).
    function _collectStages(
        bytes32 loanId,
        uint16 index,
        uint40 dueAt,
        uint8 reminded,
        Found memory found,
        uint256 order
    ) private view {
        for (uint256 k = 0; k < _STAGE_MAX && found.count < MAX_REMINDERS; ++k) {
            uint8 stage = uint8(order >> (8 * k));
            if (!_reached(dueAt, stage)) {
                if (stage == _STAGE_DUE_SOON) continue; // none when dueSoonDays is 0
                break; // the later stages begin later still
            }
            if (reminded & (1 << stage) == 0) {
                uint256 n = found.count++;
                (found.ids[n], found.indexes[n], found.stages[n]) = (loanId, index, stage);
            }
        }
    }

    /// @dev Re-check one reminder against the chain; emit it only if its stage has begun, the
    /// instalment is unpaid and the stage was not raised before (a late keeper catches up).
    function _remind(bytes32 loanId, uint16 index, uint8 stage) private {
        Loan storage loan = _loans[loanId];
        if (loan.status != LoanStatus.Active && loan.status != LoanStatus.Defaulted) return;
        if (index < loan.nextUnpaid || index >= loan.instalmentCount) return;
        if (stage == 0 || stage > _STAGE_MAX) return;
        StoredInstalment storage inst = _schedules[loanId][index];
        if (!_reached(inst.dueAt, stage)) return;
        uint8 mask = uint8(1 << stage);
        if (inst.reminded & mask != 0) return;
        inst.reminded |= mask;
        uint256 due = uint256(inst.principal) + inst.charges;
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

    /// @dev Whether `stage` (1..7) of an instalment due at `dueAt` has begun: due soon
    /// `dueSoonDays` before it (never when 0), due at `dueAt`, overdue after the grace days,
    /// bucket b once {_bucketDays}(b) days past due.
    function _reached(uint40 dueAt, uint8 stage) private view returns (bool) {
        if (stage == _STAGE_DUE_SOON) {
            uint256 soon = uint256(_policy.dueSoonDays) * 1 days;
            return soon > 0 && block.timestamp + soon >= dueAt;
        }
        uint256 delay = 0; // stage due: no delay
        if (stage == _STAGE_OVERDUE) delay = uint256(_policy.graceDays) * 1 days;
        else if (stage > _STAGE_BUCKET_BASE) delay = _bucketDays(stage - _STAGE_BUCKET_BASE) * 1 days;
        return block.timestamp >= uint256(dueAt) + delay;
    }

    /// @dev The stages in the order they begin, one per byte, lowest byte first: due soon,
    /// due, then overdue among the buckets by the grace days (before a bucket it ties with).
    function _stageOrder() private view returns (uint256 order) {
        uint256 graceDays = _policy.graceDays;
        order = uint256(_STAGE_DUE_SOON) | (uint256(_STAGE_DUE) << 8);
        uint256 k = 2;
        bool overduePlaced = false;
        for (uint8 b = 1; b <= 4; ++b) {
            if (!overduePlaced && graceDays <= _bucketDays(b)) {
                order |= uint256(_STAGE_OVERDUE) << (8 * k++);
                overduePlaced = true;
            }
            order |= uint256(_STAGE_BUCKET_BASE + b) << (8 * k++);
        }
        if (!overduePlaced) order |= uint256(_STAGE_OVERDUE) << (8 * k);
    }

    /// @dev The days past due from which an instalment is in bucket `b` (1..4): 1, 31, 61, 91.
    function _bucketDays(uint8 b) private pure returns (uint256) {
        return 30 * uint256(b - 1) + 1;
    }

    function _daysPastDue(uint40 dueAt) private view returns (uint32) {
        return block.timestamp < dueAt ? 0 : uint32((block.timestamp - dueAt) / 1 days);
    }

    function _bucket(uint32 days_) private pure returns (uint8) {
        // slither-disable-next-line incorrect-equality (a whole-day count, not a time or balance)
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

    function _setPolicy(ReminderPolicy memory policy) private {
        if (policy.defaultAfterDays == 0) revert LoanLedgerInvalidPolicy();
        _policy = policy;
        emit ReminderPolicyChanged(policy.dueSoonDays, policy.graceDays, policy.defaultAfterDays);
    }
}
