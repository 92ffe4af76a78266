"""Shared pieces of the command line: consoles, settings, errors, JSON output, progress."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from loantrace.domain.errors import ChainError, LoantraceError
from loantrace.logs import LogFormat, configure

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ApiOption = Annotated[
    str | None, typer.Option("--api", help="URL of a running service; default: local node + db")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="print only JSON on stdout, for machines; no progress")
]

T = TypeVar("T")


def load_settings() -> Any:
    """Return the settings (LOANTRACE_* variables); a bad one is reported by `ReportingGroup`."""
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
    """Print `error: message` on stderr and exit 2."""
    err_console.print(Text.assemble(("error:", "red"), " ", message))
    raise typer.Exit(code=2)


def http(method: str, url: str, *, none_on_404: bool = False, **kwargs: Any) -> Any:
    """Call the service; send LOANTRACE_API_KEY as the bearer token when it is set.

    Any error status fails the command, except 404 with `none_on_404` (returns None).
    """
    token = os.environ.get("LOANTRACE_API_KEY")
    if token:
        kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
    try:
        response = httpx.request(method, url, timeout=60.0, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}")
    if response.status_code == 404 and none_on_404:
        return None
    if response.status_code >= 400:
        try:
            problem = response.json()
            fail(f"{problem.get('status')} {problem.get('title')}: {problem.get('detail')}")
        except ValueError:
            fail(f"{response.status_code} from {url}")
    return response.json()


# --- machine output -------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Return `value` as JSON-ready data: dataclasses, enums, dates, paths and bytes included."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def emit(data: T, as_json: bool, render: Callable[[T], None], *, line: bool = False) -> None:
    """Report a command's result: JSON alone on stdout with --json, else `render(data)`.

    JSON keys are sorted, so the output of one command is stable from run to run; `line`
    writes one compact line (for commands that report many times, like `index`).
    """
    if not as_json:
        render(data)
        return
    text = json.dumps(plain(data), sort_keys=True, indent=None if line else 2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def interactive() -> bool:
    """Return whether both stdout and stderr are terminals (progress bars are shown then)."""
    return _isatty(sys.stdout) and _isatty(sys.stderr)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(as_json: bool) -> Iterator[Progress]:
    """A progress display on stderr; silent with --json or when stdout or stderr is no TTY."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json or not interactive(),
        transient=False,
    )
    with bar:
        yield bar


# --- one line per error, at the command line's boundary --------------------------------------


class ReportingGroup(TyperGroup):
    """The root command group: a configuration or service error ends any command with one
    `error: ...` line on stderr and exit code 2, instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; turn an expected failure into one line and exit 2."""
        try:
            return super().invoke(ctx)
        except (ValidationError, LoantraceError) as exc:
            fail(describe_error(exc))
        except Exception as exc:
            database = _database_error(exc)
            if database is None:
                raise  # typer's Exit and usage errors, and bugs: as they are
            fail(database)


def describe_error(exc: BaseException) -> str:
    """Return one line naming what is wrong and, when known, the LOANTRACE_* setting."""
    if isinstance(exc, ValidationError):
        return _validation_message(exc)
    message = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, ChainError) and _caused_by_network(exc):
        rpc = _configured_rpc_url()
        if rpc is not None:
            return f"LOANTRACE_RPC_URL ({_redacted(rpc)}): {message}"
    return message


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error.get("loc", ())]
        where = (
            f"LOANTRACE_{loc[0].upper()}"
            if exc.title == "Settings" and loc
            else ".".join(loc) or exc.title
        )
        problems.append(f"{where}: {_one_line(str(error.get('msg', 'invalid')))}")
    prefix = "" if exc.title == "Settings" else f"invalid {exc.title}: "
    return prefix + "; ".join(problems)


def _database_error(exc: Exception) -> str | None:
    """Name LOANTRACE_DATABASE_URL when the database cannot be opened or reached."""
    try:
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return None
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return f"LOANTRACE_DATABASE_URL: {_one_line(str(exc))}"
    if isinstance(exc, OperationalError):
        cause = exc.orig if exc.orig is not None else exc
        return f"LOANTRACE_DATABASE_URL: cannot use the database: {_one_line(str(cause))}"
    return None


def _caused_by_network(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) or "cannot reach" in str(seen):
            return True  # requests' ConnectionError and Timeout are OSErrors too
        seen = seen.__cause__ or seen.__context__
    return False


def _configured_rpc_url() -> str | None:
    try:
        return cast(str | None, load_settings().rpc_url)
    except Exception:  # only used to name the setting in a message
        return os.environ.get("LOANTRACE_RPC_URL")


def _redacted(url: str) -> str:
    """Return scheme://host:port of a URL: a node URL's path or user part may hold an API key."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    if not parts.scheme or not parts.hostname:
        return "(unparsable URL)"
    return f"{parts.scheme}://{parts.hostname}{port}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
