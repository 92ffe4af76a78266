"""PAdES signatures on certificate PDFs: sign with a PEM key and chain, check against roots.

The signature is a PAdES B-B certification signature (DocMDP: no changes allowed) over the
whole file, so every PDF reader flags an edited copy. No timestamp authority is used; the
trusted time of a notarisation is its block, shown in the certificate itself.
"""

from __future__ import annotations

import fcntl
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from loantrace.domain.errors import ConfigurationError, InvalidInput

DEV_SIGNER_NAME = "loantrace development signer"
DEV_KEY_FILE = "pdf-signing-key.pem"
DEV_CERT_FILE = "pdf-signing-cert.pem"
FIELD_NAME = "LoantraceCertificateSignature"
_DEV_VALIDITY = timedelta(days=5 * 365 + 1)
# What a damaged file makes pyHanko raise while reading it (its SignatureValidationError and
# SuspiciousModification are ValueErrors).
_BROKEN = (PdfError, ValueError, KeyError, TypeError, IndexError)

TrustRoot: TypeAlias = x509.Certificate | asn1_x509.Certificate


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on the (first) signature of a PDF."""

    intact: bool  # the signed bytes hash to the signed digest
    valid: bool  # the CMS signature over that digest verifies with the signer's key
    trusted: bool  # the signer's certificate chains to one of the given roots
    signer_subject: str
    covers_whole_file: bool  # nothing was appended after signing
    detail: str

    @property
    def ok(self) -> bool:
        """Return whether the file is exactly what a trusted signer signed."""
        return self.intact and self.valid and self.trusted and self.covers_whole_file


class PdfSigner:
    """Sign PDFs with one key and its X.509 certificate chain (PAdES B-B, no timestamp)."""

    def __init__(self, signer: signers.SimpleSigner) -> None:
        """Wrap a pyHanko signer; most callers want `PdfSigner.from_files`."""
        self._signer = signer

    @classmethod
    def from_files(
        cls, key_path: Path, cert_path: Path, key_password: bytes | None = None
    ) -> PdfSigner:
        """Load a PEM (or DER) private key and certificate chain, signer's certificate first."""
        try:
            key = load_private_key_from_pemder(str(key_path), passphrase=key_password)
            chain = list(load_certs_from_pemder_data(cert_path.read_bytes()))
            matches = bool(chain) and _same_public_key(key, chain[0])
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            message = f"cannot load the PDF signing key or certificate: {exc}"
            raise ConfigurationError(message) from None
        if not chain:
            raise ConfigurationError(f"{cert_path} holds no certificate")
        if not matches:
            raise ConfigurationError(f"the key in {key_path} does not match {cert_path}")
        signer = signers.SimpleSigner(
            signing_cert=chain[0],
            signing_key=key,
            cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
        )
        return cls(signer)

    @property
    def signer_subject(self) -> str:
        """Return the subject of the signing certificate, human-readable."""
        cert = self._signer.signing_cert
        return str(cert.subject.human_friendly) if cert is not None else ""

    def sign(self, pdf: bytes, *, reason: str, location: str | None = None) -> bytes:
        """Return `pdf` with a certification signature appended as an incremental update.

        pyHanko runs its own event loop: call this from a worker thread, not from a coroutine
        (in FastAPI, from a plain `def` route or via `run_in_threadpool`).
        """
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        except _BROKEN as exc:
            raise InvalidInput(f"not a PDF that can be signed: {exc}") from None
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            reason=reason,
            location=location,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            certify=True,
            docmdp_permissions=MDPPerm.NO_CHANGES,
        )
        try:
            output = signers.PdfSigner(meta, signer=self._signer).sign_pdf(writer)
        except SigningError as exc:  # e.g. a certificate without nonRepudiation key usage
            raise ConfigurationError(f"the PDF signing certificate cannot sign: {exc}") from None
        return bytes(output.getvalue())


def validate_signed_pdf(pdf: bytes, trust_roots: Sequence[TrustRoot]) -> SignatureCheck:
    """Check the first signature of `pdf` against `trust_roots`, offline (no CRL, OCSP, AIA).

    Never raises on a damaged file: a file that cannot be read reports every check failed.
    Like `PdfSigner.sign`, call it from a worker thread, not from a coroutine.
    """
    # A hostile file can drive pyHanko and asn1crypto into any exception (fuzzing found
    # AttributeError from a corrupted CMS blob): every one of them means "not verified".
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        found = list(reader.embedded_regular_signatures)
    except Exception as exc:
        return _failed(f"unreadable PDF: {type(exc).__name__}: {exc}")
    if not found:
        return _failed("the PDF has no signature")
    roots = [_asn1(root) for root in trust_roots]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = validate_pdf_signature(found[0], context)
    except Exception as exc:
        return _failed(f"the signature cannot be checked: {type(exc).__name__}: {exc}")
    coverage = status.coverage
    level = status.modification_level
    detail = [
        status.summary(),
        f"coverage {coverage.name if coverage else 'unknown'}",
        f"modification {level.name if level else 'unknown'}",
    ]
    if status.trust_problem_indic is not None:
        detail.append(f"trust problem {status.trust_problem_indic}")
    if status.docmdp_ok is False:
        detail.append("changes after signing violate the certification (DocMDP)")
    if len(found) > 1:
        detail.append(f"{len(found)} signatures, checked the first")
    return SignatureCheck(
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        signer_subject=str(status.signing_cert.subject.human_friendly),
        covers_whole_file=coverage == SignatureCoverageLevel.ENTIRE_FILE,
        detail="; ".join(detail),
    )


def ensure_dev_signing_identity(directory: Path) -> tuple[Path, Path]:
    """Return (key_path, cert_path) of the development signer in `directory`, made once.

    A self-signed RSA-2048 certificate, CN "loantrace development signer", key usage
    digitalSignature and nonRepudiation, valid five years. The key file is 0600. Concurrent
    callers (several workers) serialise on a lock file; each file is written atomically.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / DEV_KEY_FILE, directory / DEV_CERT_FILE
    with _locked(directory / ".pdf-signing.lock"):
        if key_path.is_file() and cert_path.is_file():
            return key_path, cert_path
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cert_pem = _self_signed(key, DEV_SIGNER_NAME).public_bytes(serialization.Encoding.PEM)
        _write_atomically(key_path, key_pem, 0o600)
        _write_atomically(cert_path, cert_pem, 0o644)
    return key_path, cert_path


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    public = key.public_key()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,  # nonRepudiation
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _DEV_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created 0600) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` through a same-directory temporary file and a rename."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _same_public_key(key: Any, cert: asn1_x509.Certificate) -> bool:
    """Return whether the asn1crypto private key `key` belongs to certificate `cert`."""
    private = serialization.load_der_private_key(key.dump(), password=None)
    ours = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bool(ours == cert.public_key.dump())


def _asn1(root: TrustRoot) -> asn1_x509.Certificate:
    if isinstance(root, x509.Certificate):
        return asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    return root


def _failed(detail: str) -> SignatureCheck:
    return SignatureCheck(
        intact=False,
        valid=False,
        trusted=False,
        signer_subject="",
        covers_whole_file=False,
        detail=detail,
    )
