"""The web portal and the API docs, served from files in `static/`, with no CDN anywhere.

Pages are HTML files whose `__STATIC__` placeholder becomes `/static/<build>`, where the
build is a hash of every asset: an asset URL names one content forever, so assets are
cached for a year (`immutable`) and pages are revalidated (`no-cache`, with an ETag).
Every answer carries a strict Content-Security-Policy: scripts only from this origin, no
inline script or style, no framing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Response
from fastapi import Path as PathParam

from loantrace.api.auth import Public
from loantrace.domain.audit import PROHIBITED_CATEGORIES, Rule
from loantrace.domain.errors import NotFound

STATIC_DIR = Path(__file__).with_name("static")
PAGES = {
    "/": "index.html",
    "/lender": "lender.html",
    "/regulator": "regulator.html",
    "/borrower": "borrower.html",
}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}
_BASE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_POLICY = f"{_BASE_POLICY}; img-src 'self'"
# Swagger UI's stylesheet draws its small icons as data: images.
DOCS_POLICY = f"{_BASE_POLICY}; img-src 'self' data:"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, media type and strong ETag."""

    body: bytes
    media_type: str
    etag: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@cache
def assets() -> dict[str, Asset]:
    """Return every static file but the pages, by path relative to `static/`."""
    found: dict[str, Asset] = {}
    for file in sorted(STATIC_DIR.rglob("*")):
        if not file.is_file() or file.suffix == ".html" or file.suffix not in MEDIA_TYPES:
            continue
        body = file.read_bytes()
        found[file.relative_to(STATIC_DIR).as_posix()] = Asset(
            body, MEDIA_TYPES[file.suffix], _etag(body)
        )
    return found


@cache
def build() -> str:
    """Return the hash naming this set of assets (part of every asset URL)."""
    digest = hashlib.sha256()
    for path, asset in assets().items():
        digest.update(f"{path}\0{asset.etag}\n".encode())
    return digest.hexdigest()[:16]


@cache
def page(name: str, openapi_url: str = "/openapi.json") -> Asset:
    """Return a page with its asset URLs (and the OpenAPI URL of the docs) filled in."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    body = text.replace("__STATIC__", f"/static/{build()}").replace("__OPENAPI__", openapi_url)
    encoded = body.encode()
    return Asset(encoded, "text/html; charset=utf-8", _etag(encoded))


def _security_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


def _answer(
    asset: Asset, *, cache_control: str, policy: str, if_none_match: str | None
) -> Response:
    """Answer with `asset`, or 304 when the client's copy is current."""
    headers = _security_headers(policy) | {"Cache-Control": cache_control, "ETag": asset.etag}
    if if_none_match is not None and asset.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


IfNoneMatch = Annotated[str | None, Header()]


def _page_route(name: str) -> Callable[..., Response]:
    def serve_page(if_none_match: IfNoneMatch = None) -> Response:
        return _answer(
            page(name), cache_control=REVALIDATE, policy=PAGE_POLICY, if_none_match=if_none_match
        )

    serve_page.__doc__ = f"Serve the portal page {name}."
    return serve_page


for _path, _name in PAGES.items():
    router.add_api_route(_path, _page_route(_name), methods=["GET"], dependencies=[Public])


@router.get("/static/{version}/{path:path}", dependencies=[Public])
def static_asset(
    version: Annotated[str, PathParam(max_length=64)],
    path: Annotated[str, PathParam(max_length=256)],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Serve a static asset: cached for good under the current build, revalidated otherwise."""
    asset = assets().get(path)
    if asset is None:
        raise NotFound(f"no asset {path}")
    cache_control = IMMUTABLE if version == build() else REVALIDATE
    return _answer(
        asset, cache_control=cache_control, policy=PAGE_POLICY, if_none_match=if_none_match
    )


@router.get("/portal/meta.json", dependencies=[Public])
def portal_meta(response: Response) -> dict[str, object]:
    """The audit rules and prohibited categories, for the portal's filters and graph."""
    response.headers.update(_security_headers(PAGE_POLICY) | {"Cache-Control": REVALIDATE})
    return {
        "rules": [str(rule) for rule in Rule],
        "prohibited_categories": sorted(PROHIBITED_CATEGORIES),
        "build": build(),
    }


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from local files, replacing FastAPI's CDN-loaded pages.

    Create the app with `docs_url=None, redoc_url=None`; any default docs routes still
    present are removed here all the same.
    """
    defaults = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) not in defaults
    ]
    app.docs_url = app.redoc_url = None
    openapi_url = app.openapi_url or "/openapi.json"

    def docs(if_none_match: IfNoneMatch = None) -> Response:
        """Serve Swagger UI (vendored swagger-ui-dist) for this API's OpenAPI document."""
        return _answer(
            page("docs.html", openapi_url),
            cache_control=REVALIDATE,
            policy=DOCS_POLICY,
            if_none_match=if_none_match,
        )

    app.add_api_route(
        "/docs", docs, methods=["GET"], include_in_schema=False, dependencies=[Public]
    )
