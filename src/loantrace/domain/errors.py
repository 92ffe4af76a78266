"""The one exception tree of loantrace; HTTP status codes are mapped in `api/` only."""


class LoantraceError(Exception):
    """Root of every error loantrace raises on purpose."""


class InvalidInput(LoantraceError):
    """A value is malformed: bad hex, wrong length, out of range."""


class PayloadTooLarge(InvalidInput):
    """An uploaded document exceeds the configured size limit."""


class SignatureError(LoantraceError):
    """A signature is malformed or was not made by the expected signer."""


class SignatureMismatch(SignatureError):
    """A signature recovers to an address other than the expected party."""


class NotFound(LoantraceError):
    """The requested agreement or batch is unknown."""


class PersonalDataErased(NotFound):
    """The borrower's personal data was erased; only its on-chain commitments remain."""


class SealBroken(LoantraceError):
    """A sealed value fails authentication: tampered, swapped, or opened with another AAD."""


class Conflict(LoantraceError):
    """The request conflicts with what is already recorded."""


class AlreadyNotarised(Conflict):
    """The digest (or Merkle root) is already on chain."""


class NotActive(Conflict):
    """The agreement was already superseded or revoked."""


class Unauthorized(LoantraceError):
    """The caller may not perform this action."""


class Unauthenticated(LoantraceError):
    """No credentials, or credentials that are unknown, expired or revoked."""


class RateLimited(LoantraceError):
    """Too many requests for one key; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(LoantraceError):
    """A dependency (chain node or database) cannot be reached right now."""


class ChainError(Unavailable):
    """The chain could not be reached or rejected a transaction unexpectedly."""


class ChainMismatch(LoantraceError):
    """The database belongs to another chain or contract than the one configured."""


class ConfigurationError(LoantraceError):
    """Settings are missing, unsafe, or inconsistent."""


class Pending(LoantraceError):
    """The transaction is recorded and broadcast but not mined yet; it will be."""

    def __init__(self, message: str, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
