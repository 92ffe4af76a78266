"""JSON-RPC batches straight over HTTP: one POST for many calls, answers in request order.

web3.py's `make_batch_request` goes through `requests`, which re-reads the proxy settings
from the environment on every request (measured: about a third of a verification batch's
CPU). Verification sends two batches per group of requests, so it posts them itself with one
kept-alive `httpx.Client` per node (thread-safe; the environment is read once, when it is
made). A provider that is not HTTP (the in-process test chain) keeps web3's own path.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx

from loantrace.domain.errors import ChainError


class RpcBatcher:
    """Send JSON-RPC batches to one node; count the round trips made."""

    def __init__(self, provider: Any, timeout: float = 30.0) -> None:
        self._provider = provider
        url = getattr(provider, "endpoint_uri", None)
        self._client = None
        if isinstance(url, str) and hasattr(provider, "get_request_kwargs"):
            kwargs = dict(provider.get_request_kwargs())  # the provider's headers and timeout
            headers = dict(kwargs.get("headers") or {})
            wait = kwargs.get("timeout")
            seconds = float(wait) if isinstance(wait, int | float) and wait > 0 else timeout
            self._client = httpx.Client(headers=headers, timeout=seconds)
        self._url = url
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.round_trips = 0

    def send(self, requests: list[tuple[str, list[Any]]]) -> list[Any]:
        """Send `requests` in one round trip; return each result, or a ChainError in its
        place where the node answered that request with an error."""
        with self._lock:
            self.round_trips += 1
            first = next(self._ids)
            for _ in range(len(requests) - 1):
                next(self._ids)
        if self._client is None:
            answers = self._provider.make_batch_request(requests)
            return _in_order(answers, len(requests), None)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(requests)
        ]
        try:
            response = self._client.post(str(self._url), json=body)
            response.raise_for_status()
            answers = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainError(f"the node did not answer a JSON-RPC batch: {exc}") from exc
        return _in_order(answers, len(requests), first)

    def close(self) -> None:
        """Close the kept-alive connections."""
        if self._client is not None:
            self._client.close()


def _in_order(answers: Any, count: int, first: int | None) -> list[Any]:
    if not isinstance(answers, list) or len(answers) != count:
        error = answers.get("error") if isinstance(answers, dict) else answers
        raise ChainError(f"the node refused a batch: {error}")
    try:
        by_id = sorted(answers, key=lambda a: int(a["id"]))
        ids = [int(a["id"]) for a in by_id]
        if first is not None and ids != list(range(first, first + count)):
            raise ChainError("the node answered a batch with ids it was not sent")
        return [ChainError(str(a["error"])) if "error" in a else a["result"] for a in by_id]
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainError(f"the node answered a batch that is not JSON-RPC: {exc!r}") from None
