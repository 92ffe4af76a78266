"""JSON-RPC batches over HTTP: answers in request order, per-request errors in place, and a
node that answers nonsense is a ChainError, never a mixed-up answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from web3 import Web3

from loantrace.chain.rpcbatch import RpcBatcher
from loantrace.domain.errors import ChainError


class CannedNode:
    """A real HTTP server that answers every POST with `answer(request_body)`."""

    def __init__(self) -> None:
        self.answer: Any = lambda body: [
            {"jsonrpc": "2.0", "id": r["id"], "result": r["method"]} for r in reversed(body)
        ]
        self.status = 200
        self.seen: list[Any] = []
        self.headers: list[dict[str, str]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.seen.append(body)
                node.headers.append(dict(self.headers))
                payload = json.dumps(node.answer(body)).encode()
                self.send_response(node.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def node() -> Iterator[CannedNode]:
    canned = CannedNode()
    yield canned
    canned.server.shutdown()


def _batcher(url: str) -> RpcBatcher:
    return RpcBatcher(Web3.HTTPProvider(url, request_kwargs={"timeout": 5}))


def test_answers_come_back_in_request_order_in_one_round_trip(node: CannedNode) -> None:
    rpc = _batcher(node.url)
    requests: list[tuple[str, list[Any]]] = [("a", []), ("b", [1]), ("c", ["x"])]
    assert rpc.send(requests) == ["a", "b", "c"]  # the node answered them reversed
    assert rpc.round_trips == 1
    assert len(node.seen) == 1
    assert len(node.seen[0]) == 3
    assert rpc.send(requests) == ["a", "b", "c"]
    first, second = node.seen
    assert {r["id"] for r in first}.isdisjoint(r["id"] for r in second)  # fresh ids


def test_an_error_for_one_request_stands_in_its_place(node: CannedNode) -> None:
    node.answer = lambda body: [
        {"jsonrpc": "2.0", "id": r["id"], "error": {"code": -32000, "message": "no"}}
        if r["method"] == "bad"
        else {"jsonrpc": "2.0", "id": r["id"], "result": 7}
        for r in body
    ]
    ok, bad, ok2 = _batcher(node.url).send([("good", []), ("bad", []), ("good", [])])
    assert ok == 7
    assert ok2 == 7
    assert isinstance(bad, ChainError)
    assert "no" in str(bad)


@pytest.mark.parametrize(
    "answer",
    [
        lambda body: {"jsonrpc": "2.0", "id": None, "error": {"message": "batch refused"}},
        lambda body: [{"jsonrpc": "2.0", "id": body[0]["id"], "result": 1}],  # one missing
        lambda body: [{"jsonrpc": "2.0", "id": r["id"] + 1000, "result": 1} for r in body],
        lambda body: [{"jsonrpc": "2.0", "result": 1} for _ in body],  # no ids
        lambda body: [{"jsonrpc": "2.0", "id": r["id"]} for r in body],  # neither result nor error
        lambda body: ["nonsense" for _ in body],
    ],
    ids=["refused", "short", "foreign ids", "no ids", "no result", "not objects"],
)
def test_a_nonsense_answer_is_a_chain_error(node: CannedNode, answer: Any) -> None:
    node.answer = answer
    with pytest.raises(ChainError):
        _batcher(node.url).send([("a", []), ("b", [])])


def test_an_http_error_or_no_node_is_a_chain_error(node: CannedNode) -> None:
    node.status = 502
    with pytest.raises(ChainError, match="did not answer"):
        _batcher(node.url).send([("a", [])])
    node.server.shutdown()
    node.server.server_close()
    with pytest.raises(ChainError, match="did not answer"):
        _batcher(node.url).send([("a", [])])


def test_the_providers_headers_are_sent(node: CannedNode) -> None:
    provider = Web3.HTTPProvider(node.url, request_kwargs={"headers": {"X-Api-Key": "k1"}})
    assert RpcBatcher(provider).send([("a", [])]) == ["a"]
    assert node.headers[0].get("X-Api-Key") == "k1"
