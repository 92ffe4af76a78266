"""The web portal in a real headless chromium against a real `loantrace serve` over HTTP.

One service process on the session's anvil chain serves the module: a document notarised
through the API, its loan disbursed, and a prohibited use (a transfer into an account the
regulator labelled SECURITIES). The browser then verifies the real file, a tampered copy,
traces the loan as a regulator, signs a borrower in with a wallet, and opens /docs, all
without a single request leaving 127.0.0.1. Screenshots land in LOANTRACE_TEST_ARTIFACTS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from loantrace.devtools.sample_terms import terms_at
from tests.api.conftest import ServiceProcess, bearer, form_of, json_item
from tests.browser import driver, launch, require_browser, screenshot, watch
from tests.conftest import (
    BoundChain,
    SessionChain,
    bound_runtime,
    make_signed,
    reverted,
    service_env,
)

require_browser()

from playwright.sync_api import Browser, FilePayload, Page, Playwright, expect  # noqa: E402  (after the skip check)

pytestmark = [pytest.mark.anvil, pytest.mark.slow, pytest.mark.timeout(600)]

BORROWER_ACCOUNT = "0x" + "b1" * 32
BROKER = "0x" + "5e" * 32  # labelled SECURITIES: a prohibited destination
GROCER = "0x" + "60" * 32  # unlabelled: an ordinary transfer
DOCUMENT = b"LOAN AGREEMENT No. PORTAL-0001\nPrincipal 1,000.00 CNY, APR 10.00%\n"
BATCHED = b"LOAN AGREEMENT No. PORTAL-0002\nnotarised in a Merkle batch\n"


@dataclass(frozen=True)
class Portal:
    """The running service and what the module set up on it."""

    url: str
    lender_key: str
    regulator_key: str
    digest: str
    loan_id: str
    borrower: LocalAccount
    flagged_tx: str
    batch_receipt: dict[str, object]  # the receipt of BATCHED, with its Merkle proof


def _ok(response: httpx.Response, status: int = 201) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    return body


def _set_up(
    url: str, lender: dict[str, str], regulator: dict[str, str], form: dict[str, str]
) -> tuple[str, str, str]:
    """Notarise the document, register and disburse its loan, and send part of it to a
    securities account; return the digest, the loan id and the flagged transfer's tx."""
    with httpx.Client(base_url=url, timeout=60) as http:
        receipt = _ok(
            http.post(
                "/v1/agreements",
                data=form,
                files={"document": ("agreement.txt", DOCUMENT, "text/plain")},
                headers=lender,
            )
        )
        digest = str(receipt["digest"])
        loan_id = str(
            _ok(http.post("/v1/loans", json={"digest": digest}, headers=lender))["loan_id"]
        )
        disbursement = {"amount": 100_000, "to_account": BORROWER_ACCOUNT, "external_ref": "P-D-1"}
        _ok(http.post(f"/v1/loans/{loan_id}/disbursements", json=disbursement, headers=lender))
        _ok(
            http.post(
                f"/v1/accounts/{BROKER}/label", json={"category": "SECURITIES"}, headers=regulator
            ),
            200,
        )
        transfer = {
            "from_account": BORROWER_ACCOUNT,
            "to_account": BROKER,
            "amount": 70_000,
            "purpose": "CONSUMPTION",
            "external_ref": "P-T-1",
        }
        flagged = _ok(http.post(f"/v1/loans/{loan_id}/transfers", json=transfer, headers=lender))
        ordinary = transfer | {"to_account": GROCER, "amount": 10_000, "external_ref": "P-T-2"}
        _ok(http.post(f"/v1/loans/{loan_id}/transfers", json=ordinary, headers=lender))
    return digest, loan_id, str(flagged["tx_hash"])


@pytest.fixture(scope="module")
def portal(
    shared_anvil_chain: SessionChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    """A `loantrace serve` process on the session anvil, with the scenario above."""
    assert shared_anvil_chain.url is not None
    node = shared_anvil_chain.connect()
    directory = tmp_path_factory.mktemp("portal")
    database = f"sqlite:///{directory / 'portal.db'}"
    with reverted(node):
        rt = bound_runtime(BoundChain(node, shared_anvil_chain.deployment), database)
        try:
            lender, regulator = bearer(rt), bearer(rt, "regulator")
            borrower: LocalAccount = Account.create()
            terms = terms_at(rt.node.now(), principal=100_000, apr_bps=1_000, instalments=3)
            form = form_of(
                make_signed(rt, DOCUMENT, borrower=borrower, terms=terms), with_digest=False
            )
            batch = [json_item(make_signed(rt, BATCHED)), json_item(make_signed(rt))]
            env = service_env(rt, shared_anvil_chain.url, database)
        finally:
            rt.close()
        service = ServiceProcess(env, directory / "serve.log")
        env["LOANTRACE_PUBLIC_URL"] = service.url  # read at start: borrowers sign in to it
        service.start()
        try:
            digest, loan_id, flagged_tx = _set_up(service.url, lender, regulator, form)
            batched = httpx.post(
                f"{service.url}/v1/agreements/batch",
                json={"agreements": batch},
                headers=lender,
                timeout=60,
            )
            receipts = _ok(batched)["receipts"]
            assert isinstance(receipts, list)
            yield Portal(
                url=service.url,
                lender_key=lender["Authorization"].removeprefix("Bearer "),
                regulator_key=regulator["Authorization"].removeprefix("Bearer "),
                digest=digest,
                loan_id=loan_id,
                borrower=borrower,
                flagged_tx=flagged_tx,
                batch_receipt=receipts[0],
            )
        finally:
            service.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver for the module."""
    with driver() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """The system chromium, headless, for the whole module."""
    launched = launch(playwright)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no storage shared between tests) and its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _choose_document(page: Page, body: bytes) -> None:
    upload: FilePayload = {"name": "agreement.txt", "mimeType": "text/plain", "buffer": body}
    page.set_input_files("#document", files=[upload])


def _verdict(page: Page) -> str:
    verdict = page.locator("#verdict[data-verdict]")
    verdict.wait_for(timeout=30_000)
    return str(verdict.get_attribute("data-verdict"))


def test_the_public_page_verifies_the_real_notarised_file_as_valid(
    portal: Portal, page: Page
) -> None:
    seen = watch(page)
    page.goto(f"{portal.url}/")
    _choose_document(page, DOCUMENT)
    assert _verdict(page) == "valid"
    expect(page.locator("#verdict-label")).to_have_text("Valid")
    expect(page.locator("#digest")).to_have_value(portal.digest)
    expect(page.locator("#evidence")).to_contain_text(portal.digest)
    expect(page.locator("#evidence")).to_contain_text("Signatures match")
    parties = page.locator("#certificate")  # certificates go to the parties, signed in
    expect(parties.get_by_role("link", name="the borrowers' page")).to_have_attribute(
        "href", "/borrower"
    )
    screenshot(page, "portal-verify-valid")
    uploads = [u for u in seen.requests if u.endswith("/v1/verify")]
    assert uploads, "the page asked the service"
    assert seen.off_machine() == []
    assert seen.page_errors == []


def test_the_public_page_shows_a_tampered_file_as_not_found(portal: Portal, page: Page) -> None:
    tampered = bytearray(DOCUMENT)
    tampered[-5] ^= 0x01  # one byte
    page.goto(f"{portal.url}/")
    _choose_document(page, bytes(tampered))
    assert _verdict(page) == "not_found"
    expect(page.locator("#verdict-label")).to_have_text("Not found")
    expect(page.locator("#digest")).to_have_value("0x" + hashlib.sha256(tampered).hexdigest())
    expect(page.locator("#certificate")).to_be_empty()
    screenshot(page, "portal-verify-tampered")


def _choose_receipt(page: Page, receipt: dict[str, object]) -> None:
    upload: FilePayload = {
        "name": "receipt.json",
        "mimeType": "application/json",
        "buffer": json.dumps(receipt).encode(),
    }
    page.set_input_files("#receipt", files=[upload])


def _fact(page: Page, term: str) -> str:
    return page.locator(f"#evidence dt:text-is('{term}') + dd").inner_text()


def test_a_batched_file_with_its_receipt_checks_the_merkle_proof(
    portal: Portal, page: Page
) -> None:
    page.goto(f"{portal.url}/")
    _choose_receipt(page, portal.batch_receipt)
    _choose_document(page, BATCHED)
    assert _verdict(page) == "valid"
    assert _fact(page, "Mode") == "batch"
    assert _fact(page, "Merkle proof valid") == "yes"
    assert _fact(page, "Merkle root") == portal.batch_receipt["merkle"]["root"]  # type: ignore[index]
    screenshot(page, "portal-verify-batched")


def test_a_receipt_of_another_chain_is_said_to_be_so(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/")
    _choose_receipt(page, portal.batch_receipt | {"chain_id": 1})
    _choose_document(page, BATCHED)
    assert _verdict(page) == "other_chain"
    expect(page.locator("#verdict-label")).to_have_text("Other chain")


def test_a_certificate_qr_link_verifies_its_digest_directly(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/?digest={portal.digest}")
    assert _verdict(page) == "valid"
    expect(page.locator("#result-heading")).to_be_focused()


def test_the_vendored_sha256_matches_web_crypto_and_python(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/")
    script = page.locator("script[type=module]").get_attribute("src") or ""
    hash_module = script.replace("/verify.js", "/hash.js")
    digests = page.evaluate(
        """async ([module, text]) => {
            const m = await import(module);
            const bytes = new TextEncoder().encode(text);
            return [await m.sha256WithNoble(bytes), await m.sha256WithWebCrypto(bytes)];
        }""",
        [hash_module, DOCUMENT.decode()],
    )
    expected = "0x" + hashlib.sha256(DOCUMENT).hexdigest()
    assert digests == [expected, expected]


def test_over_plain_http_elsewhere_the_vendored_sha256_verifies_the_file(
    portal: Portal, playwright: Playwright
) -> None:
    """Not loopback, not https: no crypto.subtle, and the page says so and still works.

    The name is resolved to 127.0.0.1 by the browser itself: nothing leaves the machine.
    """
    port = portal.url.rsplit(":", 1)[1]
    insecure = launch(playwright, "--host-resolver-rules=MAP portal.example 127.0.0.1")
    try:
        page = insecure.new_page()
        page.goto(f"http://portal.example:{port}/")
        assert page.evaluate("window.isSecureContext") is False
        expect(page.locator("#engine")).to_contain_text("@noble/hashes")
        _choose_document(page, DOCUMENT)
        assert _verdict(page) == "valid"
        expect(page.locator("#engine")).to_contain_text("computed here with @noble/hashes")
        screenshot(page, "portal-verify-insecure-context")
    finally:
        insecure.close()


def test_a_regulator_sees_the_prohibited_transfer_highlighted_in_the_loan_graph(
    portal: Portal, page: Page
) -> None:
    seen = watch(page)
    page.goto(f"{portal.url}/regulator")
    page.get_by_label("API key").fill(portal.regulator_key)
    page.get_by_role("button", name="Sign in").click()
    findings = page.get_by_role("region", name="Audit findings")
    expect(findings).to_contain_text("prohibited use")
    expect(page.locator("#overdue-loans")).to_have_text("0")
    page.goto(f"{portal.url}/regulator#/loans/{portal.loan_id}")
    flagged = page.locator("svg.flow g.edge.flagged")
    expect(flagged).to_have_count(1, timeout=30_000)
    assert flagged.get_attribute("data-tx") == portal.flagged_tx
    expect(flagged).to_contain_text("FLAGGED")
    expect(flagged).to_contain_text("700.00")
    ordinary = page.locator("svg.flow g.edge:not(.flagged)")
    expect(ordinary.filter(has_text="100.00").first).to_be_visible()
    stroke = "el => getComputedStyle(el.querySelector('path')).stroke"
    assert flagged.evaluate(stroke) != ordinary.first.evaluate(stroke)
    destination = page.locator("svg.flow .node.prohibited")
    expect(destination).to_have_count(1)
    expect(destination).to_contain_text("PROHIBITED: SECURITIES")
    expect(page.locator("tr.flagged")).to_contain_text("FLAGGED: prohibited_use")
    screenshot(page, "portal-regulator-flow-graph")
    page.get_by_role("link", name=f"Account {BROKER}, SECURITIES, prohibited destination").click()
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    expect(page.locator("#view")).to_contain_text("PROHIBITED: SECURITIES")
    expect(
        page.get_by_role("region", name="Movements into and out of this account")
    ).to_contain_text("700.00")
    screenshot(page, "portal-regulator-account")
    assert seen.off_machine() == []
    assert seen.page_errors == []


def test_a_lender_reads_the_loan_schedule_payments_and_webhooks(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/lender")
    page.get_by_label("API key").fill(portal.lender_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Agreement document digest").fill(portal.digest)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#view")).to_contain_text("notarised")
    with page.expect_download() as download:
        page.get_by_role("button", name="Certificate (JSON)").click()
    assert (
        json.loads(Path(download.value.path()).read_text())["document"]["digest"] == portal.digest
    )
    page.get_by_role("link", name="The loan of this agreement").click()
    schedule = page.get_by_role("region", name="Repayment schedule")
    expect(schedule.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_role("region", name="Disbursements and repayments")).to_contain_text("P-D-1")
    expect(page.locator("#view")).to_contain_text("within the cap")
    screenshot(page, "portal-lender-loan")
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill("https://lender.example/hooks/loantrace")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#view")).to_contain_text("shown this once")
    expect(page.get_by_role("region", name="Your active webhooks")).to_contain_text(
        "lender.example"
    )


def test_a_wrong_key_is_refused_with_a_message(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/regulator")
    page.get_by_label("API key").fill("lt_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    expect(page.locator("#sections")).to_be_hidden()


def _wallet(page: Page, account: LocalAccount) -> None:
    """Give the page an EIP-1193 wallet whose personal_sign is the borrower's key."""

    def sign(message_hex: str) -> str:
        message = bytes.fromhex(message_hex.removeprefix("0x"))
        signed = Account.sign_message(encode_defunct(primitive=message), account.key)
        return "0x" + bytes(signed.signature).hex()

    address = json.dumps(account.address.lower())  # wallets often answer in lower case
    page.expose_function("__testWalletSign", sign)
    page.add_init_script(
        f"""window.ethereum = {{
            request: async ({{ method, params }}) => {{
                if (method === "eth_requestAccounts") return [{address}];
                if (method === "personal_sign") return window.__testWalletSign(params[0]);
                throw Object.assign(new Error("unsupported " + method), {{ code: 4200 }});
            }},
        }};"""
    )


def test_a_borrower_signs_in_with_a_wallet_and_sees_the_disclosed_terms(
    portal: Portal, page: Page
) -> None:
    _wallet(page, portal.borrower)
    page.goto(f"{portal.url}/borrower")
    page.get_by_role("button", name="Sign in with your wallet").click()
    expect(page.locator("#signin")).to_contain_text(portal.borrower.address, timeout=30_000)
    agreements = page.get_by_role("region", name="Your agreements")
    expect(agreements).to_contain_text("notarised")
    with page.expect_download() as download:
        agreements.get_by_role("button", name="Certificate (JSON)").click()
    certificate = json.loads(Path(download.value.path()).read_text())
    assert certificate["document"]["digest"] == portal.digest
    assert certificate["agreement"]["borrower"] == portal.borrower.address
    expect(page.locator("#view")).to_contain_text("within the cap")
    expect(page.locator("#view")).to_contain_text("Total to repay")
    expect(page.get_by_role("region", name="Repayment schedule").locator("tbody tr")).to_have_count(
        3
    )
    screenshot(page, "portal-borrower")


def test_the_borrower_page_explains_when_there_is_no_wallet(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/borrower")
    expect(page.get_by_role("alert")).to_contain_text("No Ethereum wallet was found")


def test_docs_render_swagger_ui_with_no_request_leaving_the_machine(
    portal: Portal, page: Page
) -> None:
    seen = watch(page)
    page.goto(f"{portal.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("loantrace", timeout=30_000)
    operations = page.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 20
    expect(page.locator(".swagger-ui")).to_contain_text("/v1/verify")
    screenshot(page, "portal-docs")
    assert seen.off_machine() == [], seen.off_machine()
    assert not [e for e in seen.console_errors if "Content Security Policy" in e], (
        seen.console_errors
    )
    assert seen.page_errors == []
    assert any(u.endswith("/openapi.json") for u in seen.requests)


CONTROLS = "input:not([type=hidden]), select, textarea"


def _unlabelled_controls(page: Page) -> list[str]:
    """Form controls without a programmatic label (a <label for>, aria-label or -labelledby)."""
    found: list[str] = page.eval_on_selector_all(
        CONTROLS,
        """els => els.filter(el => !(el.labels.length || el.getAttribute('aria-label')
                || el.getAttribute('aria-labelledby'))).map(el => el.outerHTML)""",
    )
    return found


@pytest.mark.parametrize("path", ["/", "/lender", "/regulator", "/borrower"])
def test_pages_fit_a_phone_and_label_every_input(
    portal: Portal, browser: Browser, path: str
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{portal.url}{path}")
        page.wait_for_load_state("networkidle")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to content")
        if path == "/":
            page.goto(f"{portal.url}/?digest={portal.digest}")  # with a verdict shown, too
            assert _verdict(page) == "valid"
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll on {path}: {widths}"
        assert _unlabelled_controls(page) == []
        controls = page.locator(CONTROLS)
        for i in range(controls.count()):  # the accessibility tree names each one
            snapshot = controls.nth(i).aria_snapshot()
            assert '"' in snapshot, f"unnamed control on {path}: {snapshot}"
        assert page.locator("main").count() == 1
        assert page.locator("header nav").get_attribute("aria-label") == "Main"
        screenshot(page, f"portal-phone{path.replace('/', '-').rstrip('-') or '-verify'}")
    finally:
        context.close()


def test_on_a_phone_the_graph_and_tables_scroll_inside_their_boxes(
    portal: Portal, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{portal.url}/regulator")
        page.get_by_label("API key").fill(portal.regulator_key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("region", name="Audit findings")).to_be_visible()
        page.goto(f"{portal.url}/regulator#/loans/{portal.loan_id}")
        expect(page.locator("svg.flow g.edge.flagged")).to_have_count(1, timeout=30_000)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"horizontal page scroll: {widths}"
        box = page.get_by_role("region", name="Fund-flow graph (scrolls sideways)")
        assert box.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls, not the page
        assert _unlabelled_controls(page) == []
        screenshot(page, "portal-phone-regulator-graph")
    finally:
        context.close()


def test_a_digest_is_verified_with_the_keyboard_alone(portal: Portal, page: Page) -> None:
    page.goto(f"{portal.url}/")
    for _ in range(20):  # Tab until the digest field has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "digest":
            break
    page.keyboard.type(portal.digest)
    page.keyboard.press("Enter")
    assert _verdict(page) == "valid"
