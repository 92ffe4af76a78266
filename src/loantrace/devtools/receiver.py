"""A reference webhook receiver: verifies signatures, rejects replays, dedupes by key.

The demo runs it on loopback; lenders can read it as the recipe for their own endpoint.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loantrace.domain.webhooks import verify_signature


@dataclass
class Received:
    """What the receiver accepted and refused."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    rejected: int = 0


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # restart on the same port right away ("down, then up")
    daemon_threads = True


class WebhookReceiver:
    """A loopback HTTP server accepting signed loantrace webhooks; use as a context manager."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self.secret: bytes | None = None
        self._clock = clock
        # Answer this status even after processing (simulates a lost acknowledgement).
        self.answer_after_processing: int | None = None
        self.received = Received()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver.handle(
                    body,
                    self.headers.get("Loantrace-Signature", ""),
                    self.headers.get("Idempotency-Key", ""),
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self._server.server_address[1]}/hooks/loantrace"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, body: bytes, signature: str, key: str) -> int:
        """Verify and record one delivery; return the HTTP status to answer."""
        secret = self.secret
        if secret is None or not verify_signature(secret, signature, body, now=int(self._clock())):
            with self._lock:
                self.received.rejected += 1
            return 401
        with self._lock:
            if key in self._seen:
                self.received.duplicates += 1
                return 200  # already processed: acknowledge, do nothing
            self._seen.add(key)
            self.received.accepted.append(json.loads(body))
        return self.answer_after_processing or 200

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
