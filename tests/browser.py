"""A real headless browser for tests: Debian's chromium driven by Playwright.

The browser is the system's (`/usr/bin/chromium`); Playwright never downloads one. Without
it, browser tests are skipped with the reason, unless LOANTRACE_TEST_REQUIRE_BROWSER=1
makes that a failure. Screenshots go to LOANTRACE_TEST_ARTIFACTS (default test-artifacts/).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request

CHROMIUM = Path(os.environ.get("LOANTRACE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parent.parent
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$")


def browser_missing() -> str | None:
    """Return why no browser test can run here, or None when one can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    return None


def require_browser() -> None:
    """Skip the calling test module when there is no browser; fail instead when required."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("LOANTRACE_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LOANTRACE_TEST_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def artifacts_dir() -> Path:
    """Return (and create) the directory where tests leave screenshots."""
    directory = Path(os.environ.get("LOANTRACE_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def driver() -> Iterator[Playwright]:
    """Start Playwright's driver (one per process at a time); stop it on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch(playwright: Playwright, *extra_args: str) -> Browser:
    """Launch the system chromium headless, with `extra_args`; the caller closes it."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


@dataclass
class Watch:
    """What a page did: every request's URL, console errors, uncaught page errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def off_machine(self) -> list[str]:
        """Requests to anywhere but the loopback interface (data: and blob: are local)."""
        found = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if not LOOPBACK.match(parts.hostname or ""):
                found.append(url)
        return found


def watch(page: Page) -> Watch:
    """Record `page`'s requests, console errors and page errors from now on."""
    seen = Watch()

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    return seen


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; return its path."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
