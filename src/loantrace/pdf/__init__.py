"""Evidence certificates as PDF: the rendering (存证证书) and its PAdES signature."""

from loantrace.pdf.render import (
    ATTACHMENT_NAME,
    Section,
    certificate_sections,
    render_certificate_pdf,
)
from loantrace.pdf.signing import (
    PdfSigner,
    SignatureCheck,
    ensure_dev_signing_identity,
    validate_signed_pdf,
)

__all__ = [
    "ATTACHMENT_NAME",
    "PdfSigner",
    "Section",
    "SignatureCheck",
    "certificate_sections",
    "ensure_dev_signing_identity",
    "render_certificate_pdf",
    "validate_signed_pdf",
]
