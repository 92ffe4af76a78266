"""Render an evidence certificate (存证证书) as an A4 PDF, the certificate JSON attached.

The PDF is for people: it shows every field a court or an auditor needs, the verification
steps and a QR code of the public verify page. The attached `certificate.json` (RFC 8785
canonical bytes) is the certificate itself, so the signed PDF alone is enough to check the
notarisation against the chain. The output is byte-for-byte deterministic: reportlab runs in
invariant mode (fixed dates and document id), so the same certificate gives the same PDF.
"""

from __future__ import annotations

import calendar
import io
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import TimeStamp
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFString,
    PDFZCompress,
)
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from loantrace.domain.certificate import parse_certificate
from loantrace.domain.digest import canonical_json
from loantrace.domain.errors import InvalidInput

ATTACHMENT_NAME = "certificate.json"
TITLE = "Evidence certificate / 存证证书"

_CJK = "STSong-Light"  # an Adobe CID font every PDF reader has: nothing to embed or download
_MONO, _MONO_SIZE = "Courier", 8.0
_MARGIN = 18 * mm
_LABEL_WIDTH = 38 * mm
_VALUE_WIDTH = A4[0] - 2 * _MARGIN - _LABEL_WIDTH
_CELL_PADDING = 4.0
_QR_SIZE = 38 * mm

pdfmetrics.registerFont(UnicodeCIDFont(_CJK))

# fmt: off
_STYLES = {
    "title": ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=18, leading=24),
    "note": ParagraphStyle("note", fontName="Helvetica", fontSize=8.5, leading=12),
    "section": ParagraphStyle("section", fontName="Helvetica-Bold", fontSize=11, leading=15,
                              spaceBefore=8, keepWithNext=1),
    "label": ParagraphStyle("label", fontName="Helvetica-Bold", fontSize=8, leading=10),
    "value": ParagraphStyle("value", fontName=_MONO, fontSize=_MONO_SIZE, leading=10),
    "step": ParagraphStyle("step", fontName="Helvetica", fontSize=8.5, leading=11.5,
                           leftIndent=12, firstLineIndent=-12, spaceAfter=2),
}
# fmt: on


@dataclass(frozen=True)
class Section:
    """One titled block of the certificate: (label, value) rows, values exactly as shown."""

    title: str
    rows: tuple[tuple[str, str], ...]


_MERKLE = "Merkle batch / 默克尔批次"
# (section title, ((label, dotted path(s) in the certificate), ...)), in the order shown;
# "a.b[]" is a list shown one row per item, "a.b?" a field shown only when not null.
# fmt: off
_LAYOUT: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Certificate / 证书", (
        ("Certificate id", "certificate_id"), ("Format", "format"), ("Issued at", "issued_at"),
        ("Issuer", "issuer.name issuer.base_url"))),
    ("Document / 文件", (("Document SHA-256", "document.digest"),)),
    ("Trusted time / 可信时间", (
        ("Block time (UTC)", "anchor.block_time"), ("Block timestamp", "anchor.block_timestamp"),
        ("Block number", "anchor.block_number"), ("Block hash", "anchor.block_hash"))),
    ("Chain / 区块链", (
        ("Chain id", "chain.chain_id"), ("Genesis hash", "chain.genesis_hash"),
        ("Registry contract", "chain.contract_address"),
        ("EIP-712 domain", "chain.eip712_domain.name chain.eip712_domain.version"))),
    ("Anchor / 上链", (("Mode", "anchor.mode"), ("Transaction hash", "anchor.tx_hash"))),
    (_MERKLE, (
        ("Merkle root", "merkle.root"), ("Proof", "merkle.proof[]"),
        ("Manifest SHA-256", "merkle.manifest_hash"))),
    ("Parties and signatures / 签约方与签名", (
        ("Agreement id", "agreement.agreement_id"), ("Lender", "agreement.lender"),
        ("Borrower", "agreement.borrower"),
        ("Borrower commitment", "agreement.borrower_commitment"),
        ("Terms digest", "agreement.terms_digest"), ("Supersedes", "agreement.supersedes"),
        ("Lender signature", "agreement.lender_signature"),
        ("Borrower signature", "agreement.borrower_signature"))),
    ("Status at issue / 出证时状态", (
        ("Status", "status_at_issue.status"), ("As of block", "status_at_issue.block_number"),
        ("Superseded by", "status_at_issue.superseded_by?"),
        ("Revoke reason", "status_at_issue.revoke_reason?"))),
)
# fmt: on


def render_certificate_pdf(cert: Mapping[str, Any]) -> bytes:
    """Return the A4 PDF of `cert` with `certificate.json` attached; raise InvalidInput if
    `cert` is not a well-formed `loantrace-certificate/1`."""
    attachment = canonical_json(dict(cert))
    sections = certificate_sections(cert)
    steps = _strings(cert.get("steps"), "steps")
    verify_url, certificate_id = _text(cert, "verify_url"), _text(cert, "certificate_id")
    issued = _issue_time(_text(cert, "issued_at"))

    story: list[Flowable] = [
        Paragraph(_markup(TITLE), _STYLES["title"]),
        Paragraph(
            _markup(
                "This PDF is signed (PAdES); any change breaks the signature. Its attachment "
                f"{ATTACHMENT_NAME} is the certificate itself: check it against the chain with "
                "the steps below, without trusting the issuer.\n本证书经数字签名，任何改动都会"
                f"使签名失效。附件 {ATTACHMENT_NAME} 即证书原文，可按下列步骤在区块链上独立验证。"
            ),
            _STYLES["note"],
        ),
    ]
    for section in sections:
        story.append(Paragraph(_markup(section.title), _STYLES["section"]))
        story.append(_table(section.rows))
    story.append(Paragraph(_markup("Verification steps / 验证步骤"), _STYLES["section"]))
    story.extend(
        Paragraph(f"{number}. {_markup(step)}", _STYLES["step"])
        for number, step in enumerate(steps, start=1)
    )
    story.append(Spacer(1, 6))
    story.append(_verify_block(verify_url))

    def decorate(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.grey)
        footer = f"loantrace evidence certificate {certificate_id}  page {canvas.getPageNumber()}"
        canvas.drawString(_MARGIN, 10 * mm, footer)
        canvas.restoreState()

    def first_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # CreationDate = issued_at, not invariant mode's fixed 2000-01-01
        _pdf_document(canvas)._timeStamp = issued
        _attach(canvas, ATTACHMENT_NAME, attachment)
        decorate(canvas, doc)

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"Evidence certificate {certificate_id}",
        subject="loantrace evidence certificate 存证证书",
        author=_text(cert, "issuer.name"),
        creator="loantrace",
        invariant=1,
    )
    document.build(story, onFirstPage=first_page, onLaterPages=decorate)
    return buffer.getvalue()


def certificate_sections(cert: Mapping[str, Any]) -> list[Section]:
    """Return the sections the PDF shows, in order; raise InvalidInput if `cert` is malformed."""
    parse_certificate(dict(cert))  # the same strict checks as the verifier: render no garbage
    return [
        Section(title, tuple(row for label, spec in rows for row in _rows(cert, label, spec)))
        for title, rows in _LAYOUT
        if title != _MERKLE or cert.get("merkle") is not None
    ]


def _rows(cert: Mapping[str, Any], label: str, spec: str) -> list[tuple[str, str]]:
    """Return the rows of one _LAYOUT entry."""
    if spec.endswith("[]"):
        items = _strings(_lookup(cert, spec[:-2]), spec[:-2])
        return [(f"{label} [{index}]", item) for index, item in enumerate(items)]
    if spec.endswith("?"):
        return [] if _lookup(cert, spec[:-1]) is None else [(label, _text(cert, spec[:-1]))]
    return [(label, " ".join(_text(cert, path) for path in spec.split()))]


def _table(rows: Sequence[tuple[str, str]]) -> Table:
    """Lay out (label, value) rows; long tokens (hex, URLs) break at a fixed width."""
    cells = [
        [Paragraph(_markup(label), _STYLES["label"]), Paragraph(_wrap(value), _STYLES["value"])]
        for label, value in rows
    ]
    table = Table(cells, colWidths=[_LABEL_WIDTH, _VALUE_WIDTH])
    everywhere = ((0, 0), (-1, -1))
    table.setStyle(TableStyle([
        ("VALIGN", *everywhere, "TOP"),
        ("LEFTPADDING", *everywhere, _CELL_PADDING / 2),
        ("RIGHTPADDING", *everywhere, _CELL_PADDING / 2),
        ("LINEBELOW", *everywhere, 0.25, colors.lightgrey),
    ]))  # fmt: skip
    return table


def _verify_block(url: str) -> Table:
    """Return the QR code of `url` beside the URL and what it is for."""
    drawing = Drawing(_QR_SIZE, _QR_SIZE)
    drawing.add(QrCodeWidget(url, barLevel="M", barBorder=4, barWidth=_QR_SIZE, barHeight=_QR_SIZE))
    caption = Paragraph(
        f"{_markup('Verify online / 在线验证:')}<br/>"
        f"<font name='{_MONO}'>{_wrap(url, _VALUE_WIDTH - _QR_SIZE)}</font><br/>"
        + _markup(
            "The page checks the digest against the chain. Offline, run the steps above on the "
            f"attached {ATTACHMENT_NAME} with any node of the chain."
        ),
        _STYLES["note"],
    )
    table = Table([[drawing, caption]], colWidths=[_QR_SIZE + 4 * mm, None])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return table


def _markup(text: str) -> str:
    """Return `text` as paragraph markup: CJK runs in the CID font, newlines as breaks."""
    runs = re.split(r"([\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+)", text)
    return "".join(
        f"<font name='{_CJK}'>{escape(run)}</font>" if index % 2 else escape(run)
        for index, run in enumerate(runs)
    ).replace("\n", "<br/>")


def _wrap(value: str, width: float = _VALUE_WIDTH) -> str:
    """Return `value` as paragraph markup, a long whitespace-free token cut into lines."""
    if any(char.isspace() for char in value):
        return escape(value)
    per_line = int((width - _CELL_PADDING) // pdfmetrics.stringWidth("0", _MONO, _MONO_SIZE))
    lines = [value[i : i + per_line] for i in range(0, len(value), per_line)]
    return "<br/>".join(escape(line) for line in lines)


def _attach(canvas: Canvas, name: str, data: bytes) -> None:
    """Register `data` as the document-level embedded file `name` (PDF 32000-1, 7.11.4)."""
    document = _pdf_document(canvas)
    stream = PDFStream(
        PDFDictionary(
            {
                "Type": PDFName("EmbeddedFile"),
                "Subtype": "/application#2Fjson",  # PDFName() would not escape the slash
                "Params": PDFDictionary({"Size": len(data)}),
            }
        ),
        content=data,
        filters=[PDFZCompress],
    )
    spec = PDFDictionary(
        {
            "Type": PDFName("Filespec"),
            "F": PDFString(name),
            "UF": PDFString(name),
            "EF": PDFDictionary({"F": document.Reference(stream)}),
            "Desc": PDFString("The evidence certificate (loantrace-certificate/1), RFC 8785 JSON"),
        }
    )
    names = PDFArray([PDFString(name), document.Reference(spec)])
    document.Catalog.Names = PDFDictionary({"EmbeddedFiles": PDFDictionary({"Names": names})})


def _pdf_document(canvas: Canvas) -> Any:
    """Return the canvas's low-level PDF document (reportlab has no public attachment API)."""
    return canvas._doc  # type: ignore[attr-defined]


def _issue_time(issued_at: str) -> TimeStamp:
    """Return reportlab's document time stamp for an RFC 3339 UTC time like issued_at."""
    try:
        parsed = time.strptime(issued_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise InvalidInput("issued_at must be a UTC time like 2026-11-23T20:00:00Z") from None
    stamp = TimeStamp(invariant=True)
    stamp.t = calendar.timegm(parsed)
    stamp.lt = time.gmtime(stamp.t)
    stamp.YMDhms = tuple(stamp.lt)[:6]
    return stamp


def _lookup(cert: Mapping[str, Any], path: str) -> object:
    """Return the value at dotted `path`; raise InvalidInput if it is absent."""
    value: object = cert
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise InvalidInput(f"{path} is missing")
        value = value[key]
    return value


def _text(cert: Mapping[str, Any], path: str) -> str:
    """Return the scalar at dotted `path` as text; raise InvalidInput if it is not one."""
    value = _lookup(cert, path)
    if isinstance(value, Mapping | list) or value is None:
        raise InvalidInput(f"{path} must be a string or a number")
    return str(value)


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{where} must be a list of strings")
    return list(value)
