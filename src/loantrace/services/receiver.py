"""A reference webhook receiver: verifies signatures, rejects replays, dedupes by key.

The demo runs it on loopback; lenders can read it as the recipe for their own endpoint.
"""

from __future__ import annotations

import json
import threading
import time
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


class WebhookReceiver:
    """A loopback HTTP server accepting signed loantrace webhooks; use as a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret: bytes | None = None
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

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}/hooks/loantrace"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, body: bytes, signature: str, key: str) -> int:
        """Verify and record one delivery; return the HTTP status to answer."""
        secret = self.secret
        if secret is None or not verify_signature(secret, signature, body, now=int(time.time())):
            with self._lock:
                self.received.rejected += 1
            return 401
        with self._lock:
            if key in self._seen:
                self.received.duplicates += 1
                return 200  # already processed: acknowledge, do nothing
            self._seen.add(key)
            self.received.accepted.append(json.loads(body))
        return 200

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
