"""Webhook signatures, idempotency keys and backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.webhooks import (
    ReminderEvent,
    backoff_delay,
    idempotency_key,
    new_secret,
    parse_secret,
    show_secret,
    sign,
    verify_signature,
)

SECRET = b"s" * 32
NOW = 1_800_000_000


def test_signature_verifies_and_tampered_body_fails() -> None:
    header = sign(SECRET, NOW, b'{"a":1}')
    assert verify_signature(SECRET, header, b'{"a":1}', now=NOW)
    assert not verify_signature(SECRET, header, b'{"a":2}', now=NOW)
    assert not verify_signature(b"t" * 32, header, b'{"a":1}', now=NOW)


def test_stale_or_future_timestamps_are_rejected() -> None:
    header = sign(SECRET, NOW, b"x")
    assert verify_signature(SECRET, header, b"x", now=NOW + 300)
    assert not verify_signature(SECRET, header, b"x", now=NOW + 301)
    assert not verify_signature(SECRET, header, b"x", now=NOW - 301)


@pytest.mark.parametrize(
    "header",
    ["", "t=1", "v1=ab", "t=abc,v1=00", "t=1,v1=00,t=2", "nonsense", f"t={NOW},v1="],
)
def test_malformed_headers_are_rejected(header: str) -> None:
    assert not verify_signature(SECRET, header, b"x", now=NOW)


@given(body=st.binary(max_size=512), secret=st.binary(min_size=16, max_size=64), data=st.data())
def test_any_single_byte_change_breaks_the_signature(
    body: bytes, secret: bytes, data: st.DataObject
) -> None:
    header = sign(secret, NOW, body)
    assert verify_signature(secret, header, body, now=NOW)
    if body:
        i = data.draw(st.integers(0, len(body) - 1))
        changed = bytearray(body)
        changed[i] ^= data.draw(st.integers(1, 255))
        assert not verify_signature(secret, header, bytes(changed), now=NOW)


def test_idempotency_key_names_the_reminder_not_the_transaction() -> None:
    key = idempotency_key(1, "0xABC", 3, 2)
    assert key == idempotency_key(1, "0xabc", 3, 2)
    others = {
        idempotency_key(2, "0xabc", 3, 2),
        idempotency_key(1, "0xabd", 3, 2),
        idempotency_key(1, "0xabc", 4, 2),
        idempotency_key(1, "0xabc", 3, 3),
    }
    assert len({key, *others}) == 5
    first = ReminderEvent(1, "0xaa", 0, 5, "0xabc", "0x" + "22" * 20, 3, 2, "due", 1, 10, 0)
    remined = ReminderEvent(1, "0xbb", 7, 9, "0xabc", "0x" + "22" * 20, 3, 2, "due", 1, 10, 0)
    assert first.idempotency_key == remined.idempotency_key == key


def test_payload_carries_key_and_every_field() -> None:
    event = ReminderEvent(
        1, "0xaa", 0, 5, "0x" + "11" * 32, "0x" + "22" * 20, 0, 2, "due", 1_800_000_000, 110_000, 0
    )
    payload = event.to_payload()
    assert payload["event"] == "reminder.raised"
    assert payload["idempotency_key"] == idempotency_key(1, "0x" + "11" * 32, 0, 2)
    assert payload["amount_due"] == 110_000


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(a, base=2, cap=30) for a in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    with pytest.raises(InvalidInput):
        backoff_delay(0, base=2, cap=30)


def test_secret_round_trips_through_its_shown_form() -> None:
    secret = new_secret()
    assert parse_secret(show_secret(secret)) == secret
    with pytest.raises(InvalidInput):
        parse_secret("whsec_nothex")
