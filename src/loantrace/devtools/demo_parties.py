"""The demo's second act, over real HTTP calls into the API: two lenders with their own
keystore keys, a regulator, an auditor and a borrower who signs in with Ethereum, each
doing what its role allows and refused what it does not."""

from __future__ import annotations

import json
import secrets
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.signers import write_keystore
from loantrace.devtools.demo import DemoStep
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain import siwe
from loantrace.domain.agreement import Agreement, sign_agreement
from loantrace.domain.digest import document_digest
from loantrace.domain.hexcodec import to_hex

BORROWER_DATA = {
    "name": "Demo Borrower",
    "id_number": "DEMO20261123",
    "phone": "+86 100 0000 0000",
    "bank_account": "6222000000000000001",
}


def two_lender_keystores() -> tuple[Path, str]:
    """Make two fresh lender keystores in a temporary directory; return it and the password."""
    directory = Path(tempfile.mkdtemp(prefix="loantrace-demo-keys-"))
    password = secrets.token_urlsafe(16)
    for name in ("lender-a", "lender-b"):
        write_keystore(secrets.token_bytes(32), password, directory / f"{name}.json")
    return directory, password


class _Act:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.steps: list[DemoStep] = []

    def call(
        self, who: str, action: str, expected: int, method: str, url: str, **kwargs: Any
    ) -> Any:
        response = self.client.request(method, url, **kwargs)
        detail = "" if response.status_code < 400 else response.json().get("detail", "")[:60]
        self.steps.append(
            DemoStep(f"{who}: {action}", url, str(response.status_code), str(expected), detail)
        )
        return response.json() if response.content else None


def run_parties_demo(runtime: Runtime, admin_token: str) -> list[DemoStep]:
    """Play the parties' scenario against the API; return each call and its status."""
    lender_a, lender_b = (d.signer.address for d in runtime.desks.values())
    with TestClient(create_app(runtime)) as client:
        act = _Act(client)
        admin = {"Authorization": f"Bearer {admin_token}"}

        def key(role: str, lender: str | None = None) -> dict[str, str]:
            body = {"role": role, "name": f"demo {role}"} | ({"lender": lender} if lender else {})
            made = act.call(
                "admin", f"create a {role} key", 201, "POST", "/v1/keys", json=body, headers=admin
            )
            return {"Authorization": f"Bearer {made['token']}"}

        a, b = key("lender", lender_a), key("lender", lender_b)
        regulator, auditor = key("regulator"), key("auditor")
        enrolled = act.call(
            "lender A",
            "enrol a borrower (data encrypted)",
            201,
            "POST",
            "/v1/borrowers",
            json=BORROWER_DATA,
            headers=a,
        )
        wallet = Account.create()
        digest = _notarise(runtime, act, a, lender_a, wallet, enrolled["borrower_commitment"])
        act.call(
            "lender B",
            "read lender A's agreement",
            404,
            "GET",
            f"/v1/agreements/{digest}",
            headers=b,
        )
        act.call(
            "lender B",
            "revoke lender A's agreement",
            404,
            "POST",
            f"/v1/agreements/{digest}/revoke",
            json={"reason": 1},
            headers=b,
        )
        _notarise(runtime, act, b, lender_b, Account.create(), "0x" + "b0" * 32)
        act.call(
            "auditor",
            "read lender A's agreement",
            200,
            "GET",
            f"/v1/agreements/{digest}",
            headers=auditor,
        )
        act.call(
            "auditor",
            "label an account",
            403,
            "POST",
            f"/v1/accounts/{'0x' + 'ac' * 32}/label",
            json={"category": "GAMBLING"},
            headers=auditor,
        )
        act.call(
            "regulator",
            "label an account (REGULATOR key)",
            200,
            "POST",
            f"/v1/accounts/{'0x' + 'ac' * 32}/label",
            json={"category": "GAMBLING"},
            headers=regulator,
        )
        loan = act.call(
            "lender A",
            "register the loan",
            201,
            "POST",
            "/v1/loans",
            json={"digest": digest},
            headers=a,
        )
        session = _sign_in(act, wallet)
        mine = act.call(
            "borrower",
            "read own loans after SIWE sign-in",
            200,
            "GET",
            "/v1/me/loans",
            headers=session,
        )
        act.steps[-1].detail = f"{len(mine)} loan, {len(mine[0]['loan']['schedule'])} instalments"
        act.call("borrower", "read the lender's key list", 403, "GET", "/v1/keys", headers=session)
        commitment = enrolled["borrower_commitment"]
        act.call(
            "lender A",
            "erase the borrower's personal data",
            200,
            "DELETE",
            f"/v1/borrowers/{commitment}/personal-data",
            headers=a,
        )
        act.call(
            "lender A",
            "read the erased personal data",
            410,
            "GET",
            f"/v1/borrowers/{commitment}/personal-data",
            headers=a,
        )
        verdict = act.call(
            "anyone",
            "verify the agreement after erasure",
            200,
            "POST",
            "/v1/verify",
            data={"digest": digest},
        )
        act.steps[-1].detail = f"verdict {verdict['verdict']}, loan {loan['loan_id'][:10]}…"
        chain = act.call(
            "regulator",
            "verify the audit log's hash chain",
            200,
            "GET",
            "/v1/audit-log/verify",
            headers=regulator,
        )
        act.steps[-1].detail = f"{chain['entries']} entries, intact: {chain['intact']}"
        return act.steps


def _notarise(
    runtime: Runtime, act: _Act, headers: dict[str, str], lender: str, wallet: Any, commitment: str
) -> str:
    """The borrower's wallet signs the typed data; the lender notarises it."""
    terms = terms_at(runtime.node.now(), principal=50_000, instalments=3)
    document = f"loan agreement of {wallet.address}, {secrets.token_hex(4)}".encode()
    agreement = Agreement(
        digest=document_digest(document),
        lender=lender,
        borrower=wallet.address,
        borrower_commitment=bytes.fromhex(commitment[2:]),
        terms_digest=terms.digest(),
    )
    signature = sign_agreement(agreement, runtime.registry.domain, wallet.key)
    form = {
        "borrower": wallet.address,
        "borrower_commitment": commitment,
        "borrower_signature": to_hex(signature),
        "terms": json.dumps(terms.to_json()),
        "digest": to_hex(agreement.digest),
    }
    who = "lender A" if lender == next(iter(runtime.desks.values())).signer.address else "lender B"
    act.call(
        who,
        "notarise an agreement (own keystore key)",
        201,
        "POST",
        "/v1/agreements",
        data=form,
        headers=headers,
    )
    return to_hex(agreement.digest)


def _sign_in(act: _Act, wallet: Any) -> dict[str, str]:
    challenge = act.call("borrower", "ask for a sign-in nonce", 200, "POST", "/v1/auth/siwe/nonce")
    message = siwe.render(
        siwe.SiweMessage(
            domain=challenge["domain"],
            address=wallet.address,
            statement=challenge["statement"],
            uri=challenge["uri"],
            chain_id=challenge["chain_id"],
            nonce=challenge["nonce"],
            issued_at=datetime.now(UTC),
            expiration_time=datetime.now(UTC) + timedelta(minutes=5),
        )
    )
    signature = Account.sign_message(encode_defunct(text=message), wallet.key).signature
    session = act.call(
        "borrower",
        "sign in with Ethereum (EIP-4361)",
        201,
        "POST",
        "/v1/auth/siwe",
        json={"message": message, "signature": to_hex(signature)},
    )
    return {"Authorization": f"Bearer {session['token']}"}
