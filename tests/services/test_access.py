"""API keys: random, stored only hashed, shown once, expiring, revocable."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import text

from loantrace.domain.access import split_token
from loantrace.domain.errors import (
    InvalidInput,
    LoantraceError,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from loantrace.services.access import AccessService
from loantrace.services.oidc import OidcVerifier
from loantrace.store.access import SqlAccessUnitOfWork
from loantrace.store.db import init_schema, make_engine

LENDER = "0x" + "ab" * 20
ADMIN_TOKEN = "a" * 40
DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys.db'}"


def _service(database: str, clock: Clock) -> AccessService:
    engine = make_engine(database)
    init_schema(engine)
    return AccessService(
        uow=SqlAccessUnitOfWork.factory(engine), admin_token=ADMIN_TOKEN, clock=clock
    )


def test_a_key_authenticates_its_role_and_lender_and_only_its_hash_is_stored(
    database: str,
) -> None:
    clock = Clock()
    service = _service(database, clock)
    key, token = service.create_key(by="tests", role="lender", name="acme", lender=LENDER)
    principal = service.authenticate(token)
    assert (principal.role, principal.key_id, principal.tenant) == ("lender", key.id, key.lender)
    assert key.lender is not None
    assert key.lender.lower() == LENDER
    engine = make_engine(database)
    with engine.connect() as conn:
        stored = " ".join(
            str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row
        )
    assert token not in stored
    parts = split_token(token)  # the secret may itself hold "_": split as the service does
    assert parts is not None
    assert parts[1] not in stored  # not even the secret part


def test_expired_revoked_unknown_and_malformed_tokens_are_refused(database: str) -> None:
    clock = Clock()
    service = _service(database, clock)
    _short, short_token = service.create_key(by="t", role="auditor", name="a", ttl_days=1)
    revoked, revoked_token = service.create_key(by="t", role="regulator", name="r")
    assert service.authenticate(short_token).role == "auditor"
    service.revoke_key(revoked.id)
    service.revoke_key(revoked.id)  # again: nothing changes
    clock.now += 2 * DAY
    with pytest.raises(Unauthenticated, match="expired"):
        service.authenticate(short_token)
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate(revoked_token)
    forged = revoked_token[:-4] + "AAAA"
    with pytest.raises(Unauthenticated, match="unknown"):
        service.authenticate(forged)
    for bad in ("", "Bearer x", "lt_zz_zz", "x" * 10_000):
        with pytest.raises(Unauthenticated):
            service.authenticate(bad)
    states = {k.id: k.active for k in service.list_keys()}
    assert states == {_short.id: False, revoked.id: False}


def test_the_settings_admin_token_is_an_admin_and_is_never_stored(database: str) -> None:
    service = _service(database, Clock())
    principal = service.authenticate(ADMIN_TOKEN)
    assert principal.role == "admin"
    assert service.list_keys() == []


@pytest.mark.parametrize(
    ("role", "lender", "name", "ttl"),
    [
        ("root", None, "x", 1),
        ("borrower", None, "x", 1),  # borrowers sign in with their wallet, not a key
        ("lender", None, "x", 1),
        ("lender", "0x12", "x", 1),
        ("auditor", LENDER, "x", 1),
        ("auditor", None, "", 1),
        ("auditor", None, "\x00", 1),
        ("auditor", None, "x", 0),
        ("auditor", None, "x", 100_000),
    ],
)
def test_bad_key_requests_change_nothing(
    database: str, role: str, lender: str | None, name: str, ttl: int
) -> None:
    service = _service(database, Clock())
    with pytest.raises(InvalidInput):
        service.create_key(by="t", role=role, name=name, lender=lender, ttl_days=ttl)
    assert service.list_keys() == []


def test_revoking_an_unknown_key_is_not_found(database: str) -> None:
    with pytest.raises(NotFound):
        _service(database, Clock()).revoke_key("0" * 16)


def test_many_tokens_at_once_each_get_their_own_answer_from_one_query(database: str) -> None:
    clock = Clock()
    service = _service(database, clock)
    _lender, lender_token = service.create_key(by="t", role="lender", name="l", lender=LENDER)
    _auditor, auditor_token = service.create_key(by="t", role="auditor", name="a")
    revoked, revoked_token = service.create_key(by="t", role="regulator", name="r")
    service.revoke_key(revoked.id)
    forged = auditor_token[:-4] + ("AAAA" if not auditor_token.endswith("AAAA") else "BBBB")
    tokens = [lender_token, forged, ADMIN_TOKEN, revoked_token, "lt_zz", auditor_token]
    engine = make_engine(database)
    statements: list[str] = []
    counting = AccessService(
        uow=SqlAccessUnitOfWork.factory(engine), admin_token=ADMIN_TOKEN, clock=clock
    )
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    answers = counting.authenticate_many(tokens)
    assert sum("api_keys" in s for s in statements) == 1
    roles = [a.role if not isinstance(a, Unauthenticated) else str(a) for a in answers]
    assert roles[0] == "lender"
    assert "unknown" in roles[1]
    assert roles[2] == "admin"
    assert "revoked" in roles[3]
    assert "not a loantrace API key" in roles[4]
    assert roles[5] == "auditor"
    one_by_one = []
    for token in tokens:  # the same answers as one at a time
        try:
            one_by_one.append(service.authenticate(token).key_id)
        except Unauthenticated as exc:
            one_by_one.append(str(exc))
    assert one_by_one == [
        a.key_id if not isinstance(a, Unauthenticated) else str(a) for a in answers
    ]
    assert counting.authenticate_many([]) == []


def test_an_unreachable_identity_provider_fails_its_own_tokens_only(database: str) -> None:
    class DownProvider:
        def principal(self, token: str) -> object:
            raise Unavailable("the identity provider did not answer")

    engine = make_engine(database)
    init_schema(engine)
    service = AccessService(
        uow=SqlAccessUnitOfWork.factory(engine),
        clock=Clock(),
        oidc=cast(OidcVerifier, DownProvider()),
    )
    _key, token = service.create_key(by="t", role="auditor", name="a")
    answers = service.authenticate_many(["eyJhbGciOi.a-jwt.sig", token])
    assert isinstance(answers[0], Unavailable)
    assert not isinstance(answers[1], LoantraceError)
    assert answers[1].role == "auditor"
