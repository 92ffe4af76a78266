"""Webhook signatures, idempotency keys and backoff."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from loantrace.domain.errors import InvalidInput
from loantrace.domain.webhooks import (
    ReminderEvent,
    backoff_delay,
    idempotency_key,
    new_secret,
    parse_secret,
    show_secret,
    signature_headers,
)

SECRET = b"s" * 32
NOW = 1_800_000_000


def _verify(secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    """Verify with the Standard Webhooks library itself, as a lender's receiver would."""
    try:
        Webhook(show_secret(secret)).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def test_a_standard_webhooks_client_verifies_our_signature_and_refuses_a_tampered_body() -> None:
    now = int(time.time())
    headers = signature_headers([SECRET], "msg_1", now, b'{"a":1}')
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert _verify(SECRET, headers, b'{"a":1}')
    assert not _verify(SECRET, headers, b'{"a":2}')
    assert not _verify(b"t" * 32, headers, b'{"a":1}')
    stale = signature_headers([SECRET], "msg_1", now - 301, b"{}")
    assert not _verify(SECRET, stale, b"{}")  # outside the spec's five minutes: a replay


def test_during_a_rotation_both_secrets_verify() -> None:
    now, old, new = int(time.time()), b"o" * 32, b"n" * 32
    headers = signature_headers([new, old], "msg_2", now, b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert _verify(new, headers, b"{}")
    assert _verify(old, headers, b"{}")
    assert not _verify(b"x" * 32, headers, b"{}")


ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=512)


@given(body=ascii_text, secret=st.binary(min_size=24, max_size=64), data=st.data())
def test_any_single_character_change_breaks_the_signature(
    body: str, secret: bytes, data: st.DataObject
) -> None:
    headers = signature_headers([secret], "m", int(time.time()), body.encode())
    assert _verify(secret, headers, body.encode())
    if body:
        i = data.draw(st.integers(0, len(body) - 1))
        other = data.draw(st.characters(min_codepoint=32, max_codepoint=126))
        changed = body[:i] + other + body[i + 1 :]
        if changed != body:
            assert not _verify(secret, headers, changed.encode())


def test_secrets_are_shown_in_the_standard_form_and_parse_back() -> None:
    secret = new_secret()
    shown = show_secret(secret)
    assert shown.startswith("whsec_")
    assert parse_secret(shown) == secret
    for bad in ("whsec_!!", "whsec_" + "QUJD", "nonsense"):
        with pytest.raises(InvalidInput):
            parse_secret(bad)


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
