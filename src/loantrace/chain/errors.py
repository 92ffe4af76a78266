"""Map contract custom errors (revert data) onto the domain exception tree."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector

from loantrace.domain import errors as err
from loantrace.domain.hexcodec import to_hex

# Custom error name -> (domain exception, human explanation).
_ERRORS: dict[str, tuple[type[err.LoantraceError], str]] = {
    "AgreementRegistryZeroDigest": (err.InvalidInput, "the digest must not be zero"),
    "AgreementRegistryAlreadyNotarised": (
        err.AlreadyNotarised,
        "this agreement is already notarised",
    ),
    "AgreementRegistryBatchAlreadyAnchored": (err.AlreadyNotarised, "the root is already anchored"),
    "AgreementRegistryEmptyBatch": (err.InvalidInput, "a batch must hold at least one agreement"),
    "AgreementRegistryLenderMismatch": (
        err.Unauthorized,
        "the agreement's lender is not the account submitting it",
    ),
    "AgreementRegistryInvalidSignature": (
        err.SignatureMismatch,
        "a signature does not match the named signer for this chain and contract",
    ),
    "AgreementRegistryUnknownAgreement": (err.NotFound, "no such agreement on chain"),
    "AgreementRegistryInvalidProof": (err.InvalidInput, "the Merkle proof does not match"),
    "AgreementRegistryNotLender": (
        err.Unauthorized,
        "only the lender that notarised the agreement may change it",
    ),
    "AgreementRegistryNotActive": (err.NotActive, "the agreement is superseded or revoked"),
    "AgreementRegistrySupersedesMismatch": (
        err.InvalidInput,
        "the amendment does not name the agreement it supersedes",
    ),
    "AgreementRegistryInvalidReason": (err.InvalidInput, "a revocation needs a reason code > 0"),
    "AgreementRegistryBorrowerConsentRequired": (
        err.Unauthorized,
        "the agreement backs an open loan: revoking it needs the borrower's signed consent",
    ),
    "AgreementRegistryLoanLedgerAlreadySet": (err.Conflict, "the loan ledger is already set"),
    "AgreementRegistryZeroAddress": (err.InvalidInput, "an address must not be zero"),
    "AccessControlUnauthorizedAccount": (err.Unauthorized, "the account lacks the required role"),
    "LoanLedgerAgreementNotActive": (
        err.NotActive,
        "the agreement is not notarised or no longer in force on chain",
    ),
    "LoanLedgerNotLender": (err.Unauthorized, "only the loan's lender may do this"),
    "LoanLedgerAlreadyRegistered": (err.Conflict, "a loan is already registered for it"),
    "LoanLedgerUnknownLoan": (err.NotFound, "no such loan on chain"),
    "LoanLedgerTermsMismatch": (
        err.InvalidInput,
        "the terms and schedule differ from what the borrower signed",
    ),
    "LoanLedgerDeclaredAprAboveCap": (
        err.InvalidInput,
        "the declared APR is above the rate cap in force at notarisation",
    ),
    "LoanLedgerRateCapExceeded": (
        err.InvalidInput,
        "an instalment charges more interest and fees than the rate cap allows on the "
        "outstanding principal over its period",
    ),
    "LoanLedgerInstalmentCount": (err.InvalidInput, "a schedule needs 1 to 360 instalments"),
    "LoanLedgerDueNotAfterPrevious": (
        err.InvalidInput,
        "each instalment must fall due after the start and the previous instalment",
    ),
    "LoanLedgerZeroInstalment": (err.InvalidInput, "an instalment asks for nothing"),
    "LoanLedgerPrincipalMismatch": (
        err.InvalidInput,
        "the principal parts of the schedule do not sum to the principal",
    ),
    "LoanLedgerAmountTooLarge": (err.InvalidInput, "an amount or time is too large to store"),
    "LoanLedgerStartTooEarly": (
        err.InvalidInput,
        "the loan starts more than 7 days before its agreement was notarised",
    ),
    "LoanLedgerZeroAmount": (err.InvalidInput, "the amount must be positive"),
    "LoanLedgerDisbursementExceedsPrincipal": (
        err.InvalidInput,
        "total disbursed would exceed the principal",
    ),
    "LoanLedgerRepaymentExceedsOutstanding": (
        err.InvalidInput,
        "the repayment exceeds what is outstanding",
    ),
    "LoanLedgerNotActive": (err.NotActive, "the loan does not accept this in its status"),
    "LoanLedgerReferenceUsed": (err.Conflict, "this external reference was already recorded"),
    "LoanLedgerInvalidLpr": (err.InvalidInput, "the LPR must be 1..25000 bps"),
    "LoanLedgerLprNotForward": (
        err.InvalidInput,
        "an LPR takes effect now or later, after the last recorded one",
    ),
    "LoanLedgerInvalidPolicy": (err.InvalidInput, "the reminder policy is invalid"),
    "LoanLedgerPerformDataTooLong": (err.InvalidInput, "too many reminders in one upkeep"),
    "FundFlowLoanNotDisbursed": (err.NotActive, "the loan has not been disbursed"),
    "FundFlowNotReporter": (
        err.Unauthorized,
        "only the loan's lender or a REPORTER may record its transfers",
    ),
    "FundFlowZeroAmount": (err.InvalidInput, "the amount must be positive"),
    "FundFlowSameAccount": (err.InvalidInput, "a transfer needs two different accounts"),
    "FundFlowReferenceUsed": (
        err.Conflict,
        "this reporter already recorded a transfer under this external reference",
    ),
    "FundFlowNotRegulator": (err.Unauthorized, "only a REGULATOR or admin may label accounts"),
    "FundFlowZeroAccount": (err.InvalidInput, "an account commitment must not be zero"),
}


class RevertDecoder:
    """Decode revert data of a contract ABI into domain errors."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [i["type"] for i in item["inputs"]]
            names = [i["name"] for i in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            self._by_selector[selector] = (item["name"], types, names)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]] | None:
        """Return (error name, named arguments) for revert `data`, or None if unknown."""
        entry = self._by_selector.get(data[:4])
        if entry is None:
            return None
        name, types, names = entry
        values = decode(types, data[4:])
        return name, {n: _plain(v) for n, v in zip(names, values, strict=True)}

    def to_domain(self, data: bytes) -> err.LoantraceError:
        """Turn revert `data` into the matching domain exception with a clear message."""
        decoded = self.decode(data)
        if decoded is None:
            return err.ChainError(f"transaction reverted with unknown data {to_hex(data[:36])}")
        name, args = decoded
        cls, text = _ERRORS.get(name, (err.ChainError, "the contract rejected the transaction"))
        detail = ", ".join(f"{k}={v}" for k, v in args.items())
        exc = cls(f"{text} ({name}: {detail})" if detail else f"{text} ({name})")
        exc.contract_error = name  # type: ignore[attr-defined]
        return exc


def _plain(value: Any) -> Any:
    return to_hex(value) if isinstance(value, bytes) else value
