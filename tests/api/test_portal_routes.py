"""The portal and docs over plain HTTP: content types, cache headers, a strict CSP, pages
with no inline script or style, every referenced asset served from this origin, and the
vendored files as published."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from loantrace.api.portal_routes import PAGES, STATIC_DIR, build
from tests.api.conftest import assert_problem

DOCS = "/docs"
ALL_PAGES = [*PAGES, DOCS]
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class _Page(HTMLParser):
    """Collect what a page loads and anything that would run or style inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.module_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}=...>")
            if name in ("src", "href") and value:
                self.urls.append(value)
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if not values.get("src"):
                self.inline.append("<script> without src")
            elif values.get("type") == "module":
                self.module_scripts.append(str(values["src"]))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script body {data.strip()[:40]!r}")


def _parse(html: str) -> _Page:
    parser = _Page()
    parser.feed(html)
    return parser


def _policy(header: str) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


@pytest.mark.parametrize("path", ALL_PAGES)
def test_pages_are_html_revalidated_and_under_a_strict_policy(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    policy = _policy(response.headers["content-security-policy"])
    assert policy["default-src"] == {"'self'"}
    assert policy["script-src"] == {"'self'"}
    assert policy["style-src"] == {"'self'"}
    assert policy["object-src"] == {"'none'"}
    assert policy["frame-ancestors"] == {"'none'"}
    assert policy["base-uri"] == {"'none'"}
    every = " ".join(" ".join(v) for v in policy.values())
    assert "unsafe" not in every
    assert "*" not in every
    assert "http" not in every
    assert policy["img-src"] <= {"'self'", "data:"}


@pytest.mark.parametrize("path", ALL_PAGES)
def test_pages_have_no_inline_code_and_load_only_served_local_assets(
    client: TestClient, path: str
) -> None:
    page = _parse(client.get(path).text)
    assert page.inline == []
    assert page.urls, "a page loads its script and styles"
    for url in page.urls:
        assert not re.match(r"^(https?:)?//", url), f"{path} loads {url} from elsewhere"
        if url.startswith("/static/"):
            assert url.startswith(f"/static/{build()}/")
            asset = client.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rfind(".") :]
            assert asset.headers["content-type"] == ASSET_TYPES[suffix]


def test_an_asset_is_cached_for_good_under_its_build_and_revalidated_by_etag(
    client: TestClient,
) -> None:
    url = f"/static/{build()}/js/verify.js"
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "default-src 'self'" in first.headers["content-security-policy"]
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    stale = client.get("/static/0000000000000000/js/verify.js")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    page = client.get("/")
    assert client.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "js/nothing.js",
        "../portal_routes.py",
        "%2e%2e/portal_routes.py",
        "index.html",  # pages are served at their own paths only
        "vendor/swagger-ui/swagger-ui-bundle.js.map",
    ],
)
def test_unknown_assets_and_escapes_are_404_problems(client: TestClient, path: str) -> None:
    assert_problem(client.get(f"/static/{build()}/{path}"), 404)


def test_every_module_import_resolves_to_a_served_asset(client: TestClient) -> None:
    pattern = re.compile(r"""(?:from\s+|import\s*\(\s*)["'](\.{1,2}/[^"']+)["']""")
    modules = sorted((STATIC_DIR / "js").glob("*.js"))
    assert len(modules) >= 10
    for module in modules:
        for target in pattern.findall(module.read_text()):
            url = f"/static/{build()}/js/{target}"
            response = client.get(url)
            assert response.status_code == 200, f"{module.name} imports {target}"
            assert response.headers["content-type"] == ASSET_TYPES[".js"]


def test_docs_serve_the_vendored_swagger_ui_and_no_cdn_page_remains(client: TestClient) -> None:
    html = client.get(DOCS).text
    assert f"/static/{build()}/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert 'data-openapi-url="/openapi.json"' in html
    assert "cdn" not in html.lower()
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/lender", "/docs", "/portal/meta.json"} & set(paths)
    assert not [p for p in paths if p.startswith("/static")]


def test_the_portal_meta_names_the_audit_rules_and_prohibited_categories(
    client: TestClient,
) -> None:
    response = client.get("/portal/meta.json", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    meta = response.json()
    assert {"prohibited_use", "overdue", "round_trip"} <= set(meta["rules"])
    assert "SECURITIES" in meta["prohibited_categories"]
    assert meta["build"] == build()


def test_vendored_files_are_unmodified_and_keep_their_licences() -> None:
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.MULTILINE)
    assert len(listed) == 7
    for checksum, name in listed:
        body = (STATIC_DIR / "vendor" / name).read_bytes()
        assert hashlib.sha256(body).hexdigest() == checksum, name
    for licence in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "noble-hashes/LICENSE"):
        assert (STATIC_DIR / "vendor" / licence).stat().st_size > 0
    bundle = (STATIC_DIR / "vendor" / "swagger-ui" / "swagger-ui-bundle.js").read_text()
    assert bundle.startswith("/*! For license information please see swagger-ui-bundle.js")
    assert (STATIC_DIR / "vendor" / "swagger-ui" / "swagger-ui-bundle.js.LICENSE.txt").exists()
    assert "MIT" in (STATIC_DIR / "vendor" / "noble-hashes" / "LICENSE").read_text()


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(
    ("foreground", "background"),
    [
        ("--text", "--bg"),
        ("--text", "--panel"),
        ("--muted", "--bg"),
        ("--muted", "--panel"),
        ("--link", "--bg"),
        ("--link", "--panel"),
        ("#ffffff", "--brand"),
        ("--ok", "--ok-bg"),
        ("--bad", "--bad-bg"),
        ("--warn", "--warn-bg"),
        ("--info", "--info-bg"),
        ("--flag", "--bg"),
        ("--flag", "--bad-bg"),
    ],
)
def test_text_colours_meet_wcag_aa_contrast(foreground: str, background: str) -> None:
    css = (STATIC_DIR / "css" / "base.css").read_text()
    colours = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6});", css))

    def colour(name: str) -> str:
        return name if name.startswith("#") else colours[name]

    assert _contrast(colour(foreground), colour(background)) >= 4.5
