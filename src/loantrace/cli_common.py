"""Shared pieces of the command line: consoles, settings, errors, HTTP calls."""

from __future__ import annotations

import os
from typing import Annotated, Any, NoReturn, cast

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console

from loantrace.domain.errors import LoantraceError
from loantrace.logs import LogFormat, configure

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ApiOption = Annotated[
    str | None, typer.Option("--api", help="URL of a running service; default: local node + db")
]


def load_settings() -> Any:
    from loantrace.settings import Settings

    return Settings()


def setup_logging(level: str, log_format: LogFormat | None = None) -> None:
    """Log at `level` and above to stderr, as LOANTRACE_LOG_FORMAT lines unless told."""
    configure(level, log_format or _configured_log_format())


def _configured_log_format() -> LogFormat:
    try:
        return cast(LogFormat, load_settings().log_format)
    except (ValidationError, LoantraceError):  # the command reports bad settings itself
        return "text"


def fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


def http(method: str, url: str, **kwargs: Any) -> Any:
    """Call the service; send LOANTRACE_API_KEY as the bearer token when it is set."""
    token = os.environ.get("LOANTRACE_API_KEY")
    if token:
        kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
    try:
        response = httpx.request(method, url, timeout=60.0, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}")
    if response.status_code >= 400:
        try:
            problem = response.json()
            fail(f"{problem.get('status')} {problem.get('title')}: {problem.get('detail')}")
        except ValueError:
            fail(f"{response.status_code} from {url}")
    return response.json()
