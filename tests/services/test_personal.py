"""Personal data over the SQL store: sealed at rest, lender-confined, erasable, re-wrappable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loantrace.domain.envelope import Keyring
from loantrace.domain.errors import (
    ConfigurationError,
    InvalidInput,
    NotFound,
    PersonalDataErased,
    SealBroken,
)
from loantrace.domain.hexcodec import parse_bytes32
from loantrace.domain.personal import (
    PersonalData,
    opens_account,
    opens_borrower,
)
from loantrace.services.personal import PersonalDataService
from loantrace.store.db import init_schema, make_engine
from loantrace.store.personal import SqlPersonalUnitOfWork

LENDER = "0x" + "ab" * 20
OTHER_LENDER = "0x" + "cd" * 20
K1, K2 = os.urandom(32), os.urandom(32)
RING = Keyring([("k1", K1)])
ROTATED = Keyring([("k2", K2), ("k1", K1)])
ALICE = PersonalData("张三丰", "11010519491231002X", "+86 139-1234-5678", "6222021234567890123")
BOB = PersonalData("Robert Tables", "P98765432", "+44 20 7946 0958", "GB82WEST12345698765432")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'personal.db'}"
    url: str = request.getfixturevalue("fresh_postgres")
    return url


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = make_engine(database)
    init_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _service(engine: Engine, clock: Clock, keyring: Keyring = RING) -> PersonalDataService:
    return PersonalDataService(
        uow=SqlPersonalUnitOfWork.factory(engine), keyring=keyring, clock=clock
    )


def _bytes(hex_value: str) -> bytes:
    return parse_bytes32(hex_value, field="commitment")


def test_enrol_read_erase_then_read_is_gone(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    enrolment = service.enrol(LENDER, ALICE)
    commitment = _bytes(enrolment.borrower_commitment)

    opened = service.read(commitment, lender=LENDER)
    assert opened.data == ALICE
    assert opened.lender.lower() == LENDER
    assert opened.commitment == enrolment.borrower_commitment
    assert opened.account_commitment == enrolment.account_commitment
    salt, account_salt = bytes.fromhex(opened.salt[2:]), bytes.fromhex(opened.account_salt[2:])
    assert opens_borrower(commitment, name="张三丰", id_number=ALICE.id_number, salt=salt)
    account = _bytes(enrolment.account_commitment)
    assert opens_account(account, bank_account=ALICE.bank_account, salt=account_salt)
    assert service.read(commitment, lender=None).data == ALICE  # a regulator

    clock.now += 60
    erasure = service.erase(commitment, lender=LENDER)
    assert erasure.commitment == enrolment.borrower_commitment
    assert erasure.erased_at.timestamp() == clock.now
    with pytest.raises(PersonalDataErased, match="erased"):
        service.read(commitment, lender=LENDER)
    with pytest.raises(PersonalDataErased):
        service.read(commitment, lender=None)
    assert service.lender_of(commitment).lower() == LENDER  # the commitments stay


def test_erasure_destroys_the_wrapped_key_and_the_sealed_data(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    commitment = service.enrol(LENDER, ALICE).borrower_commitment
    service.erase(_bytes(commitment), lender=None)  # an admin
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT wrapped_key, sealed, erased_at, account_commitment FROM borrowers"),
        ).one()
    assert (row.wrapped_key, row.sealed) == (None, None)
    assert row.erased_at is not None
    assert row.account_commitment.startswith("0x")


def test_a_second_erasure_returns_the_first_erasure_time(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    commitment = _bytes(service.enrol(LENDER, ALICE).borrower_commitment)
    first = service.erase(commitment, lender=LENDER)
    clock.now += 3600
    second = service.erase(commitment, lender=LENDER)
    assert second == first
    assert service.erase(commitment, lender=None) == first


def test_racing_erasures_agree_on_one_time(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    commitment = _bytes(service.enrol(LENDER, ALICE).borrower_commitment)

    def erase(offset: int) -> float:
        racer_clock = Clock()
        racer_clock.now = clock.now + offset
        racer = _service(engine, racer_clock)
        return racer.erase(commitment, lender=LENDER).erased_at.timestamp()

    with ThreadPoolExecutor(max_workers=4) as pool:
        times = set(pool.map(erase, range(8)))
    assert len(times) == 1


def test_another_lender_gets_not_found(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    commitment = _bytes(service.enrol(LENDER, ALICE).borrower_commitment)
    with pytest.raises(NotFound) as read:
        service.read(commitment, lender=OTHER_LENDER)
    with pytest.raises(NotFound) as erased:
        service.erase(commitment, lender=OTHER_LENDER)
    assert not isinstance(read.value, PersonalDataErased)
    assert not isinstance(erased.value, PersonalDataErased)
    assert service.read(commitment, lender=LENDER.upper().replace("0X", "0x")).data == ALICE
    assert service.owns(LENDER, commitment)
    assert not service.owns(OTHER_LENDER, commitment)

    service.erase(commitment, lender=LENDER)
    with pytest.raises(NotFound) as after:  # not even whether it was erased
        service.read(commitment, lender=OTHER_LENDER)
    assert not isinstance(after.value, PersonalDataErased)


def test_an_unknown_borrower_is_not_found(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    unknown = bytes(32)
    with pytest.raises(NotFound):
        service.read(unknown, lender=None)
    with pytest.raises(NotFound):
        service.erase(unknown, lender=None)
    with pytest.raises(NotFound):
        service.lender_of(unknown)
    assert not service.owns(LENDER, unknown)


def test_a_lender_must_be_an_address(engine: Engine, clock: Clock) -> None:
    with pytest.raises(InvalidInput, match="lender"):
        _service(engine, clock).enrol("acme", ALICE)


def test_rotation_rewraps_live_keys_so_the_old_master_key_can_retire(
    engine: Engine, clock: Clock
) -> None:
    old = _service(engine, clock, RING)
    alice = _bytes(old.enrol(LENDER, ALICE).borrower_commitment)
    bob = _bytes(old.enrol(OTHER_LENDER, BOB).borrower_commitment)
    gone = _bytes(old.enrol(LENDER, ALICE).borrower_commitment)
    old.erase(gone, lender=LENDER)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT commitment, sealed FROM borrowers")).all()

    retired = _service(engine, clock, Keyring([("k2", K2)]))
    with pytest.raises(ConfigurationError, match="not in the keyring"):
        retired.read(alice, lender=None)

    rotating = _service(engine, clock, ROTATED)
    assert rotating.rewrap_all() == 2
    assert rotating.rewrap_all() == 0
    assert retired.read(alice, lender=LENDER).data == ALICE
    assert retired.read(bob, lender=OTHER_LENDER).data == BOB
    with pytest.raises(PersonalDataErased):  # a re-wrap never revives an erased borrower
        retired.read(gone, lender=LENDER)
    assert retired.enrol(LENDER, BOB).borrower_commitment  # new ones under k2 alone

    with engine.connect() as conn:
        after = conn.execute(text("SELECT commitment, sealed, key_id FROM borrowers")).all()
    sealed_before = {r.commitment: r.sealed for r in before}
    assert all(
        sealed_before[r.commitment] == r.sealed for r in after if r.commitment in sealed_before
    )
    assert {r.key_id for r in after if r.sealed is not None} == {"k2"}


def test_rewrap_all_works_in_batches(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loantrace.services.personal.REWRAP_BATCH", 2)
    old = _service(engine, clock, RING)
    commitments = [_bytes(old.enrol(LENDER, ALICE).borrower_commitment) for _ in range(5)]
    assert _service(engine, clock, ROTATED).rewrap_all() == 5
    retired = _service(engine, clock, Keyring([("k2", K2)]))
    assert all(retired.read(c, lender=None).data == ALICE for c in commitments)


def test_swapped_or_reassigned_rows_do_not_open(engine: Engine, clock: Clock) -> None:
    service = _service(engine, clock)
    alice = service.enrol(LENDER, ALICE).borrower_commitment
    bob = service.enrol(LENDER, BOB).borrower_commitment
    with engine.begin() as conn:
        rows = {
            r.commitment: r
            for r in conn.execute(text("SELECT commitment, wrapped_key, sealed FROM borrowers"))
        }
        conn.execute(
            text("UPDATE borrowers SET wrapped_key = :w, sealed = :s WHERE commitment = :c"),
            {"w": rows[bob].wrapped_key, "s": rows[bob].sealed, "c": alice},
        )
        conn.execute(
            text("UPDATE borrowers SET lender = :lender WHERE commitment = :c"),
            {"lender": OTHER_LENDER, "c": bob},
        )
    with pytest.raises(SealBroken):
        service.read(_bytes(alice), lender=LENDER)
    with pytest.raises(SealBroken):  # a row moved to another lender does not open for it
        service.read(_bytes(bob), lender=OTHER_LENDER)


def test_the_database_file_holds_no_personal_data(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "sealed.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    service = _service(engine, clock)
    commitments = [service.enrol(LENDER, d).borrower_commitment for d in (ALICE, BOB)]
    opened = [service.read(_bytes(c), lender=LENDER) for c in commitments]
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert all(c.encode() in stored for c in commitments)  # the file is the right one
    for item in opened:
        data = item.data
        secrets = [data.name, data.id_number, data.phone, data.bank_account, "张三", "Tables"]
        secrets += [item.salt[2:], item.account_salt[2:], "1234-5678", "7946 0958"]
        for secret in secrets:
            assert secret.encode() not in stored
            assert secret.encode("utf-16-le") not in stored
        for salt in (item.salt, item.account_salt):
            assert bytes.fromhex(salt[2:]) not in stored
