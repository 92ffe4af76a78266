"""Run loantrace's reference webhook receiver as a process, appending what it accepts to a file.

    python deploy/webhook_receiver.py --port 9100 --secret-file hook.secret --out received.jsonl

The receiver (`loantrace.devtools.receiver.WebhookReceiver`) verifies each delivery's
Standard Webhooks signature and timestamp with the `whsec_…` secret the API returned when the
webhook was registered, and acknowledges a repeated `webhook-id` without recording it twice.
Each accepted reminder becomes one JSON line of `--out`. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from loantrace.devtools.receiver import WebhookReceiver
from loantrace.domain.webhooks import parse_secret


class FileReceiver(WebhookReceiver):
    """A receiver that also appends every accepted delivery to a JSON-lines file."""

    def __init__(self, *, port: int, out: Path) -> None:
        super().__init__(port=port)
        self._out = out
        self._file_lock = threading.Lock()

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify and record one delivery, then write it out if it was new."""
        with self._file_lock:
            before = len(self.received.accepted)
            status = super().handle(body, headers)
            fresh = self.received.accepted[before:]
            if fresh:
                with self._out.open("a") as handle:
                    for payload in fresh:
                        handle.write(json.dumps(payload, sort_keys=True) + "\n")
            elif status != 200:
                print(f"refused a delivery: HTTP {status}", file=sys.stderr, flush=True)
        return status


def main() -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-file", type=Path, required=True, help="holds whsec_…")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args()
    receiver = FileReceiver(port=args.port, out=args.out)
    receiver.secret = parse_secret(args.secret_file.read_text().strip())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"receiving on {receiver.url}", flush=True)
    stop.wait()
    receiver.close()


if __name__ == "__main__":
    main()
