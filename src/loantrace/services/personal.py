"""Borrowers' personal data (PIPL): enrol sealed, read back for the lender or a regulator,
erase by destroying the borrower's data key, and re-wrap data keys when master keys rotate.

Only the commitments are ever on chain, so an erasure leaves every anchor and proof valid:
the commitments simply can no longer be opened from what this service holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.domain.digest import new_salt
from loantrace.domain.envelope import Keyring, Sealed, open_sealed, rewrap, seal
from loantrace.domain.errors import NotFound, PersonalDataErased, SealBroken
from loantrace.domain.hexcodec import parse_address, to_hex
from loantrace.domain.personal import Opening, PersonalData, sealing_aad
from loantrace.ports.personal import BorrowerRecord, PersonalUnitOfWork

log = logging.getLogger(__name__)

REWRAP_BATCH = 200


@dataclass(frozen=True)
class Enrolment:
    """The commitments of an enrolled borrower, to put on chain (0x-hex)."""

    borrower_commitment: str
    account_commitment: str


@dataclass(frozen=True, repr=False)
class Opened:
    """A borrower's personal data with the salts that open its commitments (0x-hex)."""

    commitment: str
    account_commitment: str
    lender: str
    data: PersonalData
    salt: str
    account_salt: str

    def __repr__(self) -> str:
        return f"Opened(commitment={self.commitment!r}, <redacted>)"


@dataclass(frozen=True)
class Erasure:
    """When a borrower's personal data was erased (the first time)."""

    commitment: str
    erased_at: datetime


class PersonalDataService:
    """Seal, open and erase borrowers' personal data under a master keyring."""

    def __init__(
        self,
        *,
        uow: Callable[[], PersonalUnitOfWork],
        keyring: Keyring,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._keyring = keyring
        self._clock = clock

    def enrol(self, lender: str, data: PersonalData) -> Enrolment:
        """Commit to `data` under fresh salts and keep it sealed for `lender`."""
        lender = parse_address(lender, field="lender")
        opening = Opening(data, new_salt(), new_salt())
        commitment, account = opening.borrower_commitment, opening.account_commitment
        aad = sealing_aad(borrower_commitment=commitment, account_commitment=account, lender=lender)
        sealed = seal(self._keyring, opening.to_json(), aad)
        record = BorrowerRecord(
            commitment=to_hex(commitment),
            lender=lender,
            account_commitment=to_hex(account),
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            sealed=sealed.ciphertext,
            created_at=self._now(),
            erased_at=None,
        )
        with self._uow() as uow:
            uow.borrowers.add(record)
        log.info("borrower %s enrolled for lender %s", record.commitment, lender)
        return Enrolment(record.commitment, record.account_commitment)

    def read(self, commitment: bytes, *, lender: str | None) -> Opened:
        """Open a borrower's data; `lender` None reads any lender's (a regulator).

        Raise NotFound for an unknown borrower or another lender's, PersonalDataErased for
        an erased one, SealBroken if the sealed row was tampered with or swapped.
        """
        with self._uow() as uow:
            record = self._visible(uow, commitment, lender)
        if record.erased_at is not None or record.wrapped_key is None or record.sealed is None:
            at = _aware(record.erased_at).isoformat() if record.erased_at else "unknown"
            raise PersonalDataErased(f"the personal data of {record.commitment} was erased at {at}")
        sealed = Sealed(record.key_id, record.wrapped_key, record.sealed)
        opening = Opening.from_json(open_sealed(self._keyring, sealed, _aad(record)))
        if (
            to_hex(opening.borrower_commitment) != record.commitment
            or to_hex(opening.account_commitment) != record.account_commitment
        ):
            raise SealBroken(f"the sealed data of {record.commitment} opens other commitments")
        return Opened(
            commitment=record.commitment,
            account_commitment=record.account_commitment,
            lender=record.lender,
            data=opening.data,
            salt=to_hex(opening.salt),
            account_salt=to_hex(opening.account_salt),
        )

    def erase(self, commitment: bytes, *, lender: str | None) -> Erasure:
        """Destroy a borrower's data key and sealed data; erasing again returns the first time.

        `lender` None (an admin) may erase any lender's borrower.
        """
        with self._uow() as uow:
            record = self._visible(uow, commitment, lender)
            erased = uow.borrowers.erase(record.commitment, self._now())
        if erased is None or erased.erased_at is None:
            raise NotFound(f"no borrower {to_hex(commitment)}")
        if record.erased_at is None:
            log.info("personal data of borrower %s erased", record.commitment)
        return Erasure(erased.commitment, _aware(erased.erased_at))

    def lender_of(self, commitment: bytes) -> str:
        """Return the lender that enrolled a borrower (erased ones too)."""
        with self._uow() as uow:
            return self._visible(uow, commitment, None).lender

    def owns(self, lender: str, commitment: bytes) -> bool:
        """Return whether `lender` enrolled this borrower."""
        try:
            return self.lender_of(commitment).lower() == lender.lower()
        except NotFound:
            return False

    def rewrap_all(self) -> int:
        """Re-wrap every live data key under the active master key; return how many moved.

        Run it after making a new master key active; once it returns, the old master keys
        wrap nothing live and may be retired (which also makes any copy of an erased
        borrower's wrapped key in old backups or free database pages useless).
        """
        active, moved = self._keyring.active_id, 0
        while True:
            with self._uow() as uow:
                batch = uow.borrowers.wrapped_elsewhere(active, REWRAP_BATCH)
                for record in batch:
                    moved += self._rewrap(uow, record)
            if len(batch) < REWRAP_BATCH:
                break
        log.info("%d data keys re-wrapped under master key %s", moved, active)
        return moved

    def _rewrap(self, uow: PersonalUnitOfWork, record: BorrowerRecord) -> int:
        if record.wrapped_key is None or record.sealed is None:
            return 0
        fresh = rewrap(self._keyring, Sealed(record.key_id, record.wrapped_key, record.sealed))
        done = uow.borrowers.rewrap(
            record.commitment,
            old_key_id=record.key_id,
            key_id=fresh.key_id,
            wrapped_key=fresh.wrapped_key,
        )
        return int(done)

    def _visible(
        self, uow: PersonalUnitOfWork, commitment: bytes, lender: str | None
    ) -> BorrowerRecord:
        record = uow.borrowers.get(to_hex(commitment))
        if record is None or (lender is not None and record.lender.lower() != lender.lower()):
            raise NotFound(f"no borrower {to_hex(commitment)}")
        return record

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _aad(record: BorrowerRecord) -> bytes:
    return sealing_aad(
        borrower_commitment=bytes.fromhex(record.commitment[2:]),
        account_commitment=bytes.fromhex(record.account_commitment[2:]),
        lender=record.lender,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
