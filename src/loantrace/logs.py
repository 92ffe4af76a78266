"""Log lines through structlog: text for a terminal, or one JSON object a line.

Every `logging.getLogger(__name__)` call goes through structlog's `ProcessorFormatter`, so
each line carries a timestamp (UTC), the level, the logger's name, the event, the request id
when written while a request is served (`api/observe.py` binds it), and any `extra` fields.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from structlog.typing import EventDict, Processor

LogFormat = Literal["text", "json"]

# Attributes another formatter may have left on a record (pytest's, uvicorn's): not extras.
_LEFTOVERS = ("message", "asctime", "color_message")
# Loggers that write whole URLs at INFO: a webhook's URL may carry its owner's token.
_URL_LOGGERS = ("httpx", "httpcore")


def _drop_leftovers(_logger: object, _name: str, event: EventDict) -> EventDict:
    for key in _LEFTOVERS:
        event.pop(key, None)
    return event


# Run on every record, whether written through `logging` or through structlog.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    _drop_leftovers,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` installs (told apart from a test runner's or a host's)."""


def formatter(log_format: LogFormat, *, colors: bool = False) -> logging.Formatter:
    """Return the formatter writing records as `log_format` lines."""
    finish: list[Processor] = [structlog.dev.ConsoleRenderer(colors=colors)]
    if log_format == "json":
        finish = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
    )


def configure(level: str, log_format: LogFormat) -> None:
    """Send every log record to stderr as `log_format` lines at `level` and above.

    Like `logging.basicConfig`, it leaves alone a root logger that something else (a test
    runner, an application embedding this one) has given handlers; it replaces its own.
    """
    root = logging.getLogger()
    if all(isinstance(h, _Handler) for h in root.handlers):
        handler = _Handler(sys.stderr)
        handler.setFormatter(formatter(log_format, colors=log_format == "text" and _tty()))
        root.handlers[:] = [handler]
        root.setLevel(level.upper())
        for name in _URL_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _tty() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()
