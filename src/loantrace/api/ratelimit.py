"""Per-key rate limits (the `limits` library, a moving window), checked after authentication.

Each API key (and the settings' admin token) has its own window, so one noisy client cannot
crowd out the others. The window lives in this process: with several API processes, each
enforces the limit on its share (set the limit per process accordingly).
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from loantrace.domain.errors import InvalidInput, RateLimited


class KeyRateLimiter:
    """A moving-window limit per key, e.g. "600/minute"."""

    def __init__(self, spec: str) -> None:
        try:
            self._item = parse(spec)
        except ValueError as exc:
            raise InvalidInput(f"rate limit {spec!r} is not like '600/minute': {exc}") from None
        self.spec = spec
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> None:
        """Count one request for `key`; raise RateLimited when the window is full."""
        if self._limiter.hit(self._item, key):
            return
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"rate limit {self.spec} reached for this key", retry_after)
