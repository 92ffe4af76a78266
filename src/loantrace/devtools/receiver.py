"""A reference webhook receiver: verifies Standard Webhooks signatures with the spec's own
library (timestamp tolerance included, so replays are refused), and dedupes by message id.

The demo runs it on loopback; lenders can read it as the recipe for their own endpoint.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    """What the receiver accepted and refused."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    rejected: int = 0


TOLERANCE_SECONDS = 300  # the Standard Webhooks window against replays


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
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(body, headers)
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self._server.server_address[1]}/hooks/loantrace"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify and record one delivery; return the HTTP status to answer."""
        if not self._verified(body, headers):
            with self._lock:
                self.received.rejected += 1
            return 401
        key = headers.get("webhook-id", "")
        with self._lock:
            if key in self._seen:
                self.received.duplicates += 1
                return 200  # already processed: acknowledge, do nothing
            self._seen.add(key)
            self.received.accepted.append(json.loads(body))
        return self.answer_after_processing or 200

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        """Check the timestamp window on our clock (it may be simulated), then let the
        Standard Webhooks library sign the message and compare with each signature sent."""
        message_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        sent = headers.get("webhook-signature", "").split(" ")
        if self.secret is None or not message_id or not stamp.isdigit():
            return False
        if abs(int(self._clock()) - int(stamp)) > TOLERANCE_SECONDS:
            return False
        moment = datetime.fromtimestamp(int(stamp), UTC)
        expected = Webhook(self.secret).sign(message_id, moment, body.decode())
        return any(hmac.compare_digest(expected, candidate) for candidate in sent)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
