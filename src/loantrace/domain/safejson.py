"""Parse untrusted JSON with its nesting bounded before the parser sees it.

A dependency raises Python's recursion limit to 100,000, so the C JSON parser can overflow
the process's stack on a body nested that deep (a ~200 KB request). `nesting_depth` scans the
text once, outside strings, without recursion; `loads` refuses deep input before parsing.
"""

from __future__ import annotations

import json
from typing import Any

from loantrace.domain.errors import InvalidInput

MAX_DEPTH = 32
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def nesting_depth(raw: bytes, *, stop_above: int | None = None) -> int:
    """Return the deepest nesting of arrays and objects in `raw` (strings skipped).

    With `stop_above`, return as soon as the depth exceeds it (the scan need not finish).
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def loads(raw: str | bytes, *, field: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON whose nesting is at most `max_depth`, else raise InvalidInput."""
    data = raw.encode() if isinstance(raw, str) else raw
    if nesting_depth(data, stop_above=max_depth) > max_depth:
        raise InvalidInput(f"{field} is nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}") from None
