"""Schemathesis over every operation, anonymous and authenticated: no 5xx, and every answer
matches what /openapi.json says (status codes, content types, bodies, Allow on 405).

Two checks are left out, each for a reason:
- `positive_data_acceptance` (ST202): the schema does not yet carry the patterns of hex
  fields (digests, addresses, signatures), so schemathesis believes an empty string is a
  valid digest and our 422 a refusal of valid data (to do: patterns in the schema);
- `negative_data_rejection` (ST201): unknown query parameters are ignored, as HTTP APIs
  customarily do, rather than refused.
Negative cases are still generated and sent: any 5xx among them fails the test."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from loantrace.api.app import create_app
from loantrace.chain.node import connect
from tests.api.conftest import bearer
from tests.conftest import start_runtime

RUNTIME = start_runtime(connect(None))
APP = create_app(RUNTIME)
AS = {
    "anonymous": {},
    "lender": bearer(RUNTIME, "lender"),
    "regulator": bearer(RUNTIME, "regulator"),
    "admin": bearer(RUNTIME, "admin"),
}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


@pytest.mark.parametrize("caller", sorted(AS))
@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case: schemathesis.Case, caller: str) -> None:
    case.call_and_validate(headers=AS[caller], excluded_checks=EXCLUDED)
