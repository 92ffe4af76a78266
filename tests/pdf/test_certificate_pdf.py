"""The PDF evidence certificate (存证证书): what it shows, what it carries, how it is signed.

Certificates are built inline from real EIP-712 signatures and a real Merkle tree; no chain
is needed. The signed PDF is checked by pyHanko and, when installed, by poppler's `pdfsig`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eth_account import Account
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from loantrace.domain import agreement as eip712
from loantrace.domain import certificate as spec
from loantrace.domain import merkle
from loantrace.domain.digest import canonical_json
from loantrace.domain.errors import ConfigurationError, InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.pdf import (
    ATTACHMENT_NAME,
    PdfSigner,
    certificate_sections,
    ensure_dev_signing_identity,
    render_certificate_pdf,
    validate_signed_pdf,
)

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BASE = "http://127.0.0.1:8000"
A4_WIDTH = 595.27


def sha(data: bytes) -> str:
    return to_hex(hashlib.sha256(data).digest())


def make_certificate(mode: str = "single", **status: Any) -> dict[str, Any]:
    """Return a sealed certificate of a freshly signed agreement (batched among three)."""
    lender, borrower = Account.create(), Account.create()
    domain = eip712.Domain(chain_id=31337, verifying_contract=REGISTRY)

    def signed(document: bytes) -> eip712.SignedAgreement:
        digest, commitment, terms = (
            bytes.fromhex(sha(x + document)[2:]) for x in (b"", b"c", b"t")
        )
        deal = eip712.Agreement(digest, lender.address, borrower.address, commitment, terms)
        return eip712.SignedAgreement(
            deal,
            eip712.sign_agreement(deal, domain, lender.key),
            eip712.sign_agreement(deal, domain, borrower.key),
        )

    ours = signed(b"loan agreement no. 1")
    a, leaf_types, leaf = ours.agreement, merkle.AGREEMENT_LEAF_TYPES, merkle.agreement_leaf_values
    tree = merkle.StandardMerkleTree.of(
        [leaf(ours), leaf(signed(b"agreement no. 2")), leaf(signed(b"agreement no. 3"))], leaf_types
    )
    block_timestamp = 1_790_000_000
    # fmt: off
    return spec.seal({
        "format": spec.FORMAT,
        "issued_at": "2026-11-23T20:00:00Z",
        "issuer": {"name": "loantrace", "base_url": BASE},
        "document": {"hash_algorithm": "sha256", "digest": to_hex(a.digest)},
        "chain": {"chain_id": 31337, "genesis_hash": sha(b"genesis"), "contract_address": REGISTRY,
                  "eip712_domain": {"name": "LoantraceAgreementRegistry", "version": "2"}},
        "agreement": {
            "agreement_id": to_hex(eip712.signing_hash(a, domain)), "digest": to_hex(a.digest),
            "lender": a.lender, "borrower": a.borrower,
            "borrower_commitment": to_hex(a.borrower_commitment),
            "terms_digest": to_hex(a.terms_digest), "supersedes": to_hex(a.supersedes),
            "lender_signature": to_hex(ours.lender_signature),
            "borrower_signature": to_hex(ours.borrower_signature),
        },
        "anchor": {"mode": mode, "tx_hash": sha(b"tx"), "block_number": 123,
                   "block_hash": sha(b"block 123"), "block_timestamp": block_timestamp,
                   "block_time": spec.iso_time(block_timestamp)},
        "merkle": None if mode == "single" else {
            "format": spec.MERKLE_FORMAT, "root": to_hex(tree.root),
            "leaf_types": list(leaf_types),
            "leaf_values": merkle.leaf_values_to_json(leaf(ours), leaf_types),
            "proof": [to_hex(node) for node in tree.proof(0)], "manifest_hash": sha(b"manifest"),
        },
        "status_at_issue": {"status": "valid", "block_number": 130, "superseded_by": None,
                            "revoke_reason": None} | status,
        "verify_url": f"{BASE}/?digest={to_hex(a.digest)}",
        "steps": list(spec.STEPS),
    })
    # fmt: on


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def byte_range(pdf: bytes) -> list[int]:
    found = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert found is not None
    return [int(g) for g in found.groups()]


def flip(pdf: bytes, position: int) -> bytes:
    return pdf[:position] + bytes([pdf[position] ^ 0x01]) + pdf[position + 1 :]


def root_of(cert_path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_dev_signing_identity(tmp_path_factory.mktemp("signer"))


@pytest.fixture(scope="module")
def batch_cert() -> dict[str, Any]:
    return make_certificate("batch")


@pytest.fixture(scope="module")
def signed_pdf(identity: tuple[Path, Path], batch_cert: dict[str, Any]) -> bytes:
    pdf = render_certificate_pdf(batch_cert)
    return PdfSigner.from_files(*identity).sign(pdf, reason="Evidence", location="Test")


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("single", {"status": "revoked", "revoke_reason": 3}),
        ("batch", {"status": "superseded", "superseded_by": "0x" + "ab" * 32}),
    ],
)
def test_the_pdf_shows_every_field_of_the_certificate(mode: str, status: dict[str, Any]) -> None:
    cert = make_certificate(mode, **status)
    text = pdf_text(render_certificate_pdf(cert))
    shown = compact(text)
    assert "Evidence certificate / 存证证书" in text
    sections = certificate_sections(cert)
    for section in sections:
        assert compact(section.title) in shown
        for label, value in section.rows:
            assert compact(label) in shown
            assert compact(value) in shown, label
    for number, step in enumerate(cert["steps"], start=1):
        assert compact(f"{number}. {step}") in shown
    values = {label: value for section in sections for label, value in section.rows}
    assert values["Certificate id"] == cert["certificate_id"]
    assert values["Document SHA-256"] == cert["document"]["digest"]
    assert values["Transaction hash"] == cert["anchor"]["tx_hash"]
    assert values["Block time (UTC)"] == cert["anchor"]["block_time"]
    assert values["Borrower signature"] == cert["agreement"]["borrower_signature"]
    assert compact(cert["verify_url"]) in shown
    assert values["Status"] == status["status"]
    if mode == "batch":
        assert values["Superseded by"] == status["superseded_by"]
        assert "Revoke reason" not in values
        assert values["Merkle root"] == cert["merkle"]["root"]
        assert values["Manifest SHA-256"] == cert["merkle"]["manifest_hash"]
        proof = cert["merkle"]["proof"]
        assert [values[f"Proof [{i}]"] for i in range(len(proof))] == proof
    else:
        assert values["Revoke reason"] == "3"
        assert "Superseded by" not in values
        assert "Merkle batch" not in text
        assert "Merkle root" not in values


def test_long_hex_wraps_inside_the_page(tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    cert = make_certificate("batch")
    cert["verify_url"] = f"{BASE}/?digest={cert['document']['digest']}&" + "x" * 150
    path = tmp_path / "cert.pdf"
    path.write_bytes(render_certificate_pdf(spec.seal(cert)))
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    right_edges = [float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes)]
    assert right_edges
    assert max(right_edges) < A4_WIDTH - 40
    signature = cert["agreement"]["lender_signature"]
    words = re.findall(r">([^<]+)</word>", boxes)
    assert signature not in words  # too long for one line: it was cut, and every piece shows
    assert any(signature.startswith(word) and len(word) > 60 for word in words)


def test_the_same_certificate_renders_the_same_bytes(batch_cert: dict[str, Any]) -> None:
    first = render_certificate_pdf(batch_cert)
    assert render_certificate_pdf(copy.deepcopy(batch_cert)) == first
    info = pypdf.PdfReader(io.BytesIO(first)).metadata
    assert info is not None
    assert info.creation_date == datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # issued_at


def test_the_qr_code_decodes_to_the_verify_url(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    for mode in ("single", "batch"):
        cert = make_certificate(mode)
        path = tmp_path / f"{mode}.pdf"
        path.write_bytes(render_certificate_pdf(cert))
        subprocess.run(
            ["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / mode)], check=True
        )
        decoded = [
            code.text
            for page in sorted(tmp_path.glob(f"{mode}-*.png"))
            for code in zxingcpp.read_barcodes(Image.open(page))
        ]
        assert decoded == [cert["verify_url"]]


def test_the_attached_json_is_the_certificate(
    signed_pdf: bytes, batch_cert: dict[str, Any]
) -> None:
    for pdf in (render_certificate_pdf(batch_cert), signed_pdf):
        attachments = pypdf.PdfReader(io.BytesIO(pdf)).attachments
        assert list(attachments) == [ATTACHMENT_NAME]
        (data,) = attachments[ATTACHMENT_NAME]
        assert data == canonical_json(batch_cert)
        attached = json.loads(data)
        assert attached == batch_cert
        assert spec.certificate_id(attached) == attached["certificate_id"]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: c.pop("anchor"),
        lambda c: c["agreement"].update(lender_signature="0xzz"),
        lambda c: c.update(steps="read it"),
        lambda c: c.update(issued_at="yesterday"),
        lambda c: c["status_at_issue"].pop("status"),
    ],
)
def test_a_malformed_certificate_is_refused(spoil: Callable[[dict[str, Any]], object]) -> None:
    cert = make_certificate()
    spoil(cert)
    with pytest.raises(InvalidInput):
        render_certificate_pdf(cert)


def test_the_signed_pdf_validates_against_the_dev_root(
    signed_pdf: bytes, identity: tuple[Path, Path]
) -> None:
    check = validate_signed_pdf(signed_pdf, [root_of(identity[1])])
    assert (check.intact, check.valid, check.trusted, check.covers_whole_file) == (True,) * 4
    assert check.signer_subject == "Common Name: loantrace development signer"
    assert check.ok
    assert "ENTIRE_FILE" in check.detail
    unsigned = validate_signed_pdf(render_certificate_pdf(make_certificate()), [])
    assert not unsigned.ok
    assert unsigned.detail == "the PDF has no signature"
    assert not validate_signed_pdf(b"%PDF-1.7 not really", []).intact


def test_a_flipped_byte_anywhere_in_the_signed_range_breaks_integrity(
    signed_pdf: bytes, identity: tuple[Path, Path]
) -> None:
    roots = [root_of(identity[1])]
    start, length, after, rest = byte_range(signed_pdf)
    assert start == 0
    assert after + rest == len(signed_pdf)
    embedded = signed_pdf.index(b"stream", signed_pdf.index(b"/EmbeddedFile")) + 10
    content = signed_pdf.index(b"stream", signed_pdf.index(b"/Filter")) + 10
    signed = [*range(0, length), *range(after, after + rest)]
    positions = [embedded, content, *signed[:: max(1, len(signed) // 48)]]
    for position in positions:
        check = validate_signed_pdf(flip(signed_pdf, position), roots)
        assert not check.ok, position
        assert not (check.intact and check.covers_whole_file), position
    assert not validate_signed_pdf(flip(signed_pdf, embedded), roots).intact
    # Outside the byte range, in the CMS blob (hex): a damaged blob never makes the check
    # raise, and a changed RSA signature value (the DER's last 256 bytes) is never valid.
    assert signed_pdf[length + 1 : length + 5] == b"3082"
    der_end = length + 1 + 2 * (4 + int(signed_pdf[length + 5 : length + 9], 16))
    for position in range(length + 1, der_end, 11):  # hits the digest algorithm OIDs too
        check = validate_signed_pdf(flip(signed_pdf, position), roots)
        assert not (position >= der_end - 512 and check.valid), position


def _forge(pdf: bytes) -> bytes:
    """Append an incremental update that writes new text on page 1."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 60 60 Td (Principal 999999) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_an_appended_update_is_reported(signed_pdf: bytes, identity: tuple[Path, Path]) -> None:
    forged = _forge(signed_pdf)
    assert "Principal 999999" in pdf_text(forged)
    check = validate_signed_pdf(forged, [root_of(identity[1])])
    assert check.intact
    assert check.valid
    assert not check.covers_whole_file
    assert not check.ok
    assert "DocMDP" in check.detail


def test_another_self_signed_signer_is_valid_but_not_trusted(
    tmp_path: Path, identity: tuple[Path, Path], batch_cert: dict[str, Any]
) -> None:
    other = ensure_dev_signing_identity(tmp_path / "other")
    pdf = PdfSigner.from_files(*other).sign(render_certificate_pdf(batch_cert), reason="x")
    check = validate_signed_pdf(pdf, [root_of(identity[1])])
    assert check.intact
    assert check.valid
    assert check.covers_whole_file
    assert not check.trusted
    assert not check.ok
    assert validate_signed_pdf(pdf, [root_of(other[1])]).ok


def test_the_dev_identity_is_made_once_with_a_private_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    with ThreadPoolExecutor(4) as pool:  # concurrent workers at start-up agree on one pair
        results = list(pool.map(lambda _: ensure_dev_signing_identity(directory), range(4)))
    key_path, cert_path = results[0]
    assert set(results) == {(key_path, cert_path)}
    before = key_path.read_bytes(), cert_path.read_bytes()
    assert ensure_dev_signing_identity(directory) == (key_path, cert_path)
    assert (key_path.read_bytes(), cert_path.read_bytes()) == before
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    visible = {p.name for p in directory.iterdir() if not p.name.startswith(".")}
    assert visible == {key_path.name, cert_path.name}  # no temporary files left behind
    cert = root_of(cert_path)
    assert cert.subject.rfc4514_string() == cert.issuer.rfc4514_string()
    assert cert.subject.rfc4514_string() == "CN=loantrace development signer"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=5 * 365) < lifetime < timedelta(days=5 * 365 + 2)
    assert cert.not_valid_before_utc <= datetime.now(UTC) < cert.not_valid_after_utc
    assert PdfSigner.from_files(key_path, cert_path).signer_subject.endswith("development signer")


def test_a_signer_loads_an_encrypted_key_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    key_path, cert_path = ensure_dev_signing_identity(tmp_path / "a")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    locked = tmp_path / "locked.pem"
    locked.write_bytes(key.private_bytes(pem, pkcs8, serialization.BestAvailableEncryption(b"pw")))
    signer = PdfSigner.from_files(locked, cert_path, key_password=b"pw")
    pdf = signer.sign(render_certificate_pdf(make_certificate()), reason="Evidence")
    assert validate_signed_pdf(pdf, [root_of(cert_path)]).ok
    with pytest.raises(ConfigurationError):
        PdfSigner.from_files(locked, cert_path, key_password=b"wrong")
    _, foreign_cert = ensure_dev_signing_identity(tmp_path / "b")
    with pytest.raises(ConfigurationError):
        PdfSigner.from_files(key_path, foreign_cert)
    with pytest.raises(InvalidInput):
        signer.sign(b"not a pdf", reason="Evidence")


def test_pdfsig_agrees(signed_pdf: bytes, tmp_path: Path) -> None:
    """poppler's pdfsig, an independent reader, sees the signature and each kind of tampering."""
    if shutil.which("pdfsig") is None:
        pytest.skip("pdfsig (poppler-utils) is not installed")

    def pdfsig(pdf: bytes, name: str) -> str:
        path = tmp_path / name
        path.write_bytes(pdf)
        result = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
        return result.stdout + result.stderr

    good = pdfsig(signed_pdf, "good.pdf")
    assert "Signature Validation: Signature is Valid." in good
    assert "Total document signed" in good
    assert "loantrace development signer" in good
    embedded = signed_pdf.index(b"stream", signed_pdf.index(b"/EmbeddedFile")) + 10
    tampered = pdfsig(flip(signed_pdf, embedded), "tampered.pdf")
    assert "Signature Validation: Signature is Valid." not in tampered
    forged = pdfsig(_forge(signed_pdf), "forged.pdf")
    assert "Total document signed" not in forged
