"""Parse agreements as lenders submit them (JSON objects) into use-case submissions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_address, parse_bytes32, parse_signature
from loantrace.domain.schedule import add_months
from loantrace.domain.terms import LoanTerms
from loantrace.services.notary import Submission


def terms_from_json(raw: Mapping[str, Any]) -> LoanTerms:
    """Return domain terms from JSON, defaulting the start to a month before the first due."""
    if "start_date" not in raw and isinstance(raw.get("first_due_date"), str):
        try:
            first = date.fromisoformat(raw["first_due_date"])
        except ValueError:
            pass  # LoanTerms names the bad date
        else:
            raw = {**raw, "start_date": add_months(first, -1).isoformat()}
    return LoanTerms.from_json(dict(raw))


def submission_from_json(item: Mapping[str, Any], field: str) -> Submission:
    """Parse one JSON agreement (digest, parties, signatures, terms); errors name `field`."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{field} must be a JSON object")
    terms = item.get("terms")
    if not isinstance(terms, Mapping):
        raise InvalidInput(f"{field}.terms must be a JSON object")
    lender_signature = item.get("lender_signature")
    return Submission(
        digest=parse_bytes32(str(item.get("digest", "")), field=f"{field}.digest"),
        borrower=parse_address(str(item.get("borrower", "")), field=f"{field}.borrower"),
        borrower_commitment=parse_bytes32(
            str(item.get("borrower_commitment", "")), field=f"{field}.borrower_commitment"
        ),
        borrower_signature=parse_signature(
            str(item.get("borrower_signature", "")), field=f"{field}.borrower_signature"
        ),
        terms=terms_from_json(terms),
        lender_signature=(
            parse_signature(str(lender_signature), field=f"{field}.lender_signature")
            if lender_signature
            else None
        ),
    )
