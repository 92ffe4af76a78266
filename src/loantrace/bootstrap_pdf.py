"""Wiring of the certificate PDFs: render, then sign with the service's signing identity.

Production names a key and an X.509 certificate (`LOANTRACE_PDF_SIGNING_KEY_FILE`,
`LOANTRACE_PDF_SIGNING_CERT_FILE`, issued by a CA the courts and readers trust). Dev makes a
self-signed identity on first use, beside the database (or in the data directory), so that
nothing is written until a PDF is asked for.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any

from loantrace.domain.errors import Unavailable
from loantrace.settings import Settings

REASON = "Evidence certificate / 存证证书"


def dev_identity_dir(settings: Settings) -> Path:
    """Return where dev keeps its self-signed PDF signing identity."""
    url = settings.effective_database_url()
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///") + ".pdf-signer")
    if url == "sqlite://" or ":memory:" in url:
        return Path(tempfile.gettempdir()) / "loantrace-pdf-signer"
    return settings.data_dir / "pdf-signer" / hashlib.sha256(url.encode()).hexdigest()[:24]


class CertificatePdf:
    """Render a certificate as PDF and sign it (PAdES); the signer is loaded on first use."""

    def __init__(self, settings: Settings) -> None:
        """Sign with the configured identity, or (dev) a self-signed one made on first use."""
        self._settings = settings
        self._lock = threading.Lock()
        self._signer: Any = None

    def __call__(self, certificate: dict[str, Any]) -> bytes:
        """Return the signed PDF of `certificate`."""
        from loantrace.pdf import render_certificate_pdf

        return bytes(
            self._load().sign(
                render_certificate_pdf(certificate),
                reason=REASON,
                location=self._settings.public_url,
            )
        )

    def _load(self) -> Any:
        from loantrace.pdf import PdfSigner, ensure_dev_signing_identity

        with self._lock:
            if self._signer is None:
                s = self._settings
                if s.pdf_signing_key_file and s.pdf_signing_cert_file:
                    password = s.pdf_signing_key_password
                    self._signer = PdfSigner.from_files(
                        s.pdf_signing_key_file,
                        s.pdf_signing_cert_file,
                        password.get_secret_value().encode() if password else None,
                    )
                elif s.mode == "dev":
                    key, cert = ensure_dev_signing_identity(dev_identity_dir(s))
                    self._signer = PdfSigner.from_files(key, cert)
                else:
                    raise Unavailable(
                        "PDF certificates need LOANTRACE_PDF_SIGNING_KEY_FILE and "
                        "LOANTRACE_PDF_SIGNING_CERT_FILE; the JSON certificate is available"
                    )
            return self._signer
