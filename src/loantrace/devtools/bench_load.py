"""HTTP load for `loantrace bench`: N concurrent clients (asyncio + aiohttp) over real HTTP,
and the borrower-signed agreements they submit, signed before the clock starts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from eth_account import Account
from yarl import URL

from loantrace.domain.agreement import Agreement, Domain, sign_agreement
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.terms import LoanTerms

ACCEPTED = (200, 201, 202)
POLL_SECONDS = 0.1
# A 202 is followed to its status URL for one accepted request in FOLLOW_EVERY: following
# every one (3,000 pollers at 10 GET/s each) was most of the load on the service it measured.
# The anchoring p99 is then that of a systematic 1-in-10 sample.
FOLLOW_EVERY = 10
ANCHOR_TIMEOUT = 120.0


@dataclass(frozen=True)
class Job:
    """One request: method, path, aiohttp request arguments, and how many documents it carries."""

    method: str
    path: str
    kwargs: dict[str, Any]
    documents: int = 1


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile of `values` (nearest rank below), 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@dataclass
class LoadResult:
    """What a load run saw: successes, failures, latencies, and the answers kept."""

    clients: int
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    documents: int = 0
    latencies: list[float] = field(default_factory=list)
    anchored_after: list[float] = field(default_factory=list)  # submit -> anchored, seconds
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[Any] = field(default_factory=list)  # a few successful answers
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        """Return successful requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def documents_per_second(self) -> float:
        """Return documents accepted per second."""
        return self.documents / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        """Return the raw numbers for bench.json."""
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 4),
            "ok": self.ok,
            "failed": self.failed,
            "documents": self.documents,
            "requests_per_s": round(self.per_second, 2),
            "documents_per_s": round(self.documents_per_second, 2),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
            "anchored_p99_ms": round(percentile(self.anchored_after, 0.99) * 1000, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "first_error": self.first_error,
        }


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole."""

    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """Return the body parsed as JSON, or None."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


Check = Callable[[Answer], bool]


def run_load(
    base_url: str,
    jobs: Iterator[Job],
    *,
    clients: int,
    check: Check,
    duration: float | None = None,
    headers: dict[str, str] | None = None,
    keep: int = 4,
) -> LoadResult:
    """Send `jobs` from `clients` concurrent clients until they run out or `duration` passes.

    The clients are coroutines on one aiohttp session (httpx's async pool stalls with 32
    connections here: ~150 requests/s against ~1,900 for the same /healthz). A 202 answer
    is followed to its status URL until the record is anchored; the time from submission to
    anchoring is kept beside the latency of the answer itself.
    """
    return asyncio.run(_load(base_url, jobs, clients, check, duration, headers or {}, keep))


async def _request(session: aiohttp.ClientSession, job: Job) -> Answer:
    async with session.request(job.method, job.path, **job.kwargs) as response:
        body = await response.read()
        return Answer(response.status, body, dict(response.headers))


async def _load(
    base_url: str,
    jobs: Iterator[Job],
    clients: int,
    check: Check,
    duration: float | None,
    headers: dict[str, str],
    keep: int,
) -> LoadResult:
    result = LoadResult(clients=clients)
    polls: list[asyncio.Task[None]] = []
    # Reuse a kept-alive connection only well within uvicorn's 5 s keep-alive: a connection
    # the server closes while a POST is on its way fails that POST (a broken pipe).
    connector = aiohttp.TCPConnector(limit=clients + 8, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=600.0)
    async with aiohttp.ClientSession(
        base_url=base_url, headers=headers, connector=connector, timeout=timeout
    ) as session:
        began = time.perf_counter()
        deadline = began + duration if duration else None
        last_done = began

        accepted_202 = 0

        async def client() -> None:
            nonlocal last_done, accepted_202
            for job in jobs:
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                sent = time.perf_counter()
                try:
                    answer = await _request(session, job)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.failed += 1
                    result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                    continue
                done = time.perf_counter()
                result.statuses[answer.status] += 1
                if not check(answer):
                    result.failed += 1
                    result.first_error = result.first_error or (
                        f"{job.method} {job.path}: {answer.status} {answer.body[:300]!r}"
                    )
                    continue
                last_done = max(last_done, done)
                result.ok += 1
                result.documents += job.documents
                result.latencies.append(done - sent)
                if len(result.bodies) < keep:
                    result.bodies.append(answer.json())
                if answer.status == 202:
                    accepted_202 += 1
                    if accepted_202 % FOLLOW_EVERY == 1:
                        task = _follow(session, answer, sent, result)
                        polls.append(asyncio.create_task(task))
                elif job.method == "POST" and job.path.startswith("/v1/agreements"):
                    result.anchored_after.append(done - sent)

        await asyncio.gather(*(client() for _ in range(clients)))
        result.seconds = last_done - began
        if polls:
            await asyncio.gather(*polls)
    return result


async def _follow(
    session: aiohttp.ClientSession, answer: Answer, sent: float, into: LoadResult
) -> None:
    """Poll a 202's status URL until it reports the record anchored (mined)."""
    body = answer.json()
    url = answer.headers.get("Location") or (body if isinstance(body, dict) else {}).get(
        "status_url"
    )
    if not url:
        into.first_error = into.first_error or "a 202 answer named no status URL"
        return
    path = URL(str(url)).path_qs if str(url).startswith("http") else str(url)
    give_up = time.perf_counter() + ANCHOR_TIMEOUT
    while time.perf_counter() < give_up:
        await asyncio.sleep(POLL_SECONDS)
        polled = await _request(session, Job("GET", path, {}))
        status = polled.json()
        status = status if isinstance(status, dict) else {}
        state = str(status.get("status", "")).lower()
        if state in ("failed", "replaced", "rejected"):
            into.first_error = into.first_error or f"{path}: {status}"
            return
        if polled.status == 200 and (
            state in ("mined", "anchored", "notarised") or status.get("block_number")
        ):
            into.anchored_after.append(time.perf_counter() - sent)
            if len(into.bodies) < 8:
                into.bodies.append(status)
            return
    into.first_error = into.first_error or f"{path} was not anchored in {ANCHOR_TIMEOUT}s"


@dataclass
class AgreementFactory:
    """Borrower-signed agreements for one registry and lender, made ahead of the clock."""

    domain: Domain
    lender: str
    terms: LoanTerms
    tag: str
    borrowers: int = 8
    made: int = 0
    digests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._accounts = [Account.create() for _ in range(self.borrowers)]
        self._terms_json = self.terms.to_json()
        self._terms_digest = self.terms.digest()

    def items(self, count: int) -> list[dict[str, Any]]:
        """Return `count` new agreements as batch items (JSON); remember their digests."""
        out = []
        for _ in range(count):
            n, self.made = self.made, self.made + 1
            borrower = self._accounts[n % len(self._accounts)]
            digest = hashlib.sha256(f"bench {self.tag} agreement {n}".encode()).digest()
            commitment = hashlib.sha256(f"bench {self.tag} borrower {n}".encode()).digest()
            agreement = Agreement(
                digest=digest,
                lender=self.lender,
                borrower=borrower.address,
                borrower_commitment=commitment,
                terms_digest=self._terms_digest,
            )
            signature = sign_agreement(agreement, self.domain, borrower.key)
            out.append(
                {
                    "digest": to_hex(digest),
                    "borrower": borrower.address,
                    "borrower_commitment": to_hex(commitment),
                    "borrower_signature": to_hex(signature),
                    "terms": self._terms_json,
                }
            )
            self.digests.append(to_hex(digest))
        return out

    def single_jobs(self, count: int, anchoring: str | None = None) -> list[Job]:
        """Return `count` single submissions (form fields, by digest); with `anchoring`
        "batch", each asks to join the service's next Merkle batch (answered 202)."""
        extra = {"anchoring": anchoring} if anchoring else {}
        return [
            Job(
                "POST",
                "/v1/agreements",
                {"data": {**item, "terms": json.dumps(item["terms"]), **extra}},
            )
            for item in self.items(count)
        ]

    def batch_jobs(self, batches: int, size: int) -> list[Job]:
        """Return `batches` batch submissions of `size` agreements each."""
        return [
            Job("POST", "/v1/agreements/batch", {"json": {"agreements": self.items(size)}}, size)
            for _ in range(batches)
        ]


def accepted(answer: Answer) -> bool:
    """A notarisation answer: created, a retry's first receipt, or accepted (202)."""
    return answer.status in ACCEPTED


def verified(answer: Answer) -> bool:
    """A verification answer saying the document is notarised and valid."""
    if answer.status != 200:
        return False
    body = answer.json()
    return isinstance(body, dict) and body.get("verdict") == "valid"


def healthy(answer: Answer) -> bool:
    """A /healthz answer."""
    return answer.status == 200


def verify_jobs(digests: list[str], seed: int = 5) -> Iterator[Job]:
    """Endless verifications by digest (form field), picked at random among `digests`."""
    rng = random.Random(seed)  # noqa: S311 -- picks test digests, not secrets
    while True:
        yield Job("POST", "/v1/verify", {"data": {"digest": rng.choice(digests)}}, 0)


def healthz_jobs() -> Iterator[Job]:
    """Endless GET /healthz."""
    while True:
        yield Job("GET", "/healthz", {}, 0)
