"""Schemathesis over every operation, anonymous and authenticated: no 5xx, every answer matches
what /openapi.json says (status codes, content types, bodies, Allow on 405), and data the
schema calls valid is accepted (`positive_data_acceptance`, ST202).

The schema carries the patterns of hex inputs (api/patterns.py). Two rules no regex can say
are named formats, for which this test registers generators: `eth-address` (mixed case must
be a valid EIP-55 checksum: valid addresses in every accepted spelling) and `printable`
(names and references: printable characters, not blank).

Left out everywhere: `negative_data_rejection` (ST201), since unknown query parameters are
ignored, as HTTP APIs customarily do, rather than refused. Left out for single operations,
each with its reason, in `NARROW_EXCLUSIONS`. Negative cases are still generated and sent:
any 5xx among them fails the test."""

from __future__ import annotations

import pytest
import schemathesis
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)

from loantrace.api.app import create_app
from loantrace.api.patterns import ADDRESS_FORMAT, PRINTABLE_FORMAT
from loantrace.chain.node import connect
from tests.api.conftest import bearer
from tests.conftest import start_runtime


def _spellings(address: bytes) -> st.SearchStrategy[str]:
    """Every way `parse_address` accepts an address: prefix 0x, 0X or none; lower, upper or
    EIP-55 mixed case."""
    lower = address.hex()
    mixed = to_checksum_address("0x" + lower)[2:]
    digits = st.sampled_from([lower, lower.upper(), mixed])
    return st.tuples(st.sampled_from(["0x", "0X", ""]), digits).map("".join)


PRINTABLE = st.text(st.characters(exclude_categories=["C", "Z"], include_characters=" "))
schemathesis.openapi.format(ADDRESS_FORMAT, st.binary(min_size=20, max_size=20).flatmap(_spellings))
schemathesis.openapi.format(PRINTABLE_FORMAT, PRINTABLE.filter(str.strip))

RUNTIME = start_runtime(connect(None))
APP = create_app(RUNTIME)
AS = {
    "anonymous": {},
    "lender": bearer(RUNTIME, "lender"),
    "regulator": bearer(RUNTIME, "regulator"),
    "admin": bearer(RUNTIME, "admin"),
}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
EXCLUDED = [negative_data_rejection]

# What the schema cannot say, per operation; every other operation runs every check.
NARROW_EXCLUSIONS = {
    # `terms` is a JSON object inside a form field: the schema can only call it a string.
    # And a valid request carries the borrower's signature over the agreement, which no
    # generator can forge: schema-valid data is refused with 422 signature-mismatch.
    ("POST", "/v1/agreements"): [positive_data_acceptance],
    # The same signatures; and terms whose dates, schedule and rate cap must agree.
    # Also: OpenAPI matches the concrete /v1/agreements/batch before the template
    # /v1/agreements/{digest}, so schemathesis expects a GET on it to be 405 (ST204); FastAPI
    # routes it to the template, which refuses "batch" as a digest with 422.
    ("POST", "/v1/agreements/batch"): [positive_data_acceptance, unsupported_method],
    # `terms` is a JSON object inside a query parameter.
    ("GET", "/v1/agreements/typed-data"): [positive_data_acceptance],
    # `merkle` is a JSON object (a receipt's proof) inside a form field.
    ("POST", "/v1/verify"): [positive_data_acceptance],
    # A url is refused when its host is not allowed (loopback, private networks): a fact of
    # the allow-list and of DNS, not of the url's shape.
    ("POST", "/v1/webhooks"): [positive_data_acceptance],
    # A sign-in carries an EIP-4361 message with a nonce this service issued, signed by the
    # borrower: no generator can make one.
    ("POST", "/v1/auth/siwe"): [positive_data_acceptance],
    # A name is letters and marks after Unicode normalisation, an ID number or bank account
    # is checked after spaces and case are folded: rules of the domain (PersonalData), which
    # a JSON Schema pattern cannot state without refusing valid spellings.
    ("POST", "/v1/borrowers"): [positive_data_acceptance],
}


def excluded_for(case: schemathesis.Case) -> list[object]:
    """Return the checks left out for `case`'s operation."""
    return EXCLUDED + NARROW_EXCLUSIONS.get(
        (case.operation.method.upper(), case.operation.path), []
    )


@pytest.mark.parametrize("caller", sorted(AS))
@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: schemathesis.Case, caller: str) -> None:
    case.call_and_validate(headers=AS[caller], excluded_checks=excluded_for(case))
