"""Agreements queued for the next Merkle batch, over HTTP: the intake a route uses, the 202
answer, and the `Prefer: respond-async` header (RFC 7240)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from loantrace.api.coalesce import Coalescer
from loantrace.api.deps import desk_of, runtime_of
from loantrace.api.schemas import AcceptedOut, QueuedOut, ReceiptOut
from loantrace.services.intake import Intake, Outcome, Queued
from loantrace.services.notary import Submission
from loantrace.services.receipts import Receipt


async def get_intake(request: Request) -> Intake:
    """Return the batch intake of the calling lender (the first lender's for readers)."""
    desk = desk_of(request)
    return desk.intake if desk is not None else runtime_of(request).intake


IntakeDep = Annotated[Intake, Depends(get_intake)]
T = TypeVar("T")
R = TypeVar("R")
Intakes = Coalescer[tuple[Intake, Submission], Outcome]


def _per_intake(
    keys: Sequence[tuple[Intake, T]], work: Callable[[Intake, list[T]], Sequence[R]]
) -> list[R]:
    """Run `work` once per lender's intake over its share of `keys`; the answers in the
    order of `keys`."""
    places: dict[int, list[int]] = {}
    for i, (intake, _item) in enumerate(keys):
        places.setdefault(id(intake), []).append(i)
    answers: dict[int, R] = {}
    for mine in places.values():
        done = work(keys[mine[0]][0], [keys[i][1] for i in mine])
        answers.update(zip(mine, done, strict=True))
    return [answers[i] for i in range(len(keys))]


def accept_all(keys: Sequence[tuple[Intake, Submission]]) -> list[Outcome]:
    """Accept concurrent submissions: each lender's intake takes its own in one transaction
    (the batch function of `app.state.intakes`)."""
    return _per_intake(keys, Intake.accept_many)


def look_up_all(keys: Sequence[tuple[Intake, bytes]]) -> list[Queued | None]:
    """Find concurrent status requests' digests in the queue, one query per lender's intake
    (the batch function of `app.state.queue_lookups`)."""
    return _per_intake(keys, Intake.queued_many)


async def look_up(request: Request, intake: Intake, digest: bytes) -> Queued | None:
    """Return the agreement queued under `digest`, looked up with the concurrent ones."""
    lookups: Coalescer[tuple[Intake, bytes], Queued | None] = request.app.state.queue_lookups
    return await lookups.submit((intake, digest))


async def accept(request: Request, intake: Intake, submission: Submission) -> Queued | Receipt:
    """Accept `submission` for `intake`'s next batch, together with the concurrent ones."""
    intakes: Intakes = request.app.state.intakes
    outcome = await intakes.submit((intake, submission))
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


Anchoring = Literal["single", "batch"]


def queued_out(queued: Queued) -> QueuedOut:
    """Return the response model of an agreement queued for a batch."""
    return QueuedOut(
        digest=queued.digest,
        lender=queued.lender,
        accepted_at=queued.accepted_at,
        status_url=f"/v1/agreements/{queued.digest}",
    )


def prefers_async(prefer: str | None) -> bool:
    """Return whether a `Prefer` header (RFC 7240) asks for `respond-async`."""
    tokens = (
        part.split(";")[0].split("=")[0].strip().lower() for part in (prefer or "").split(",")
    )
    return "respond-async" in tokens


ACCEPTED: dict[int | str, dict[str, Any]] = {
    200: {"model": ReceiptOut, "description": "a repeat: the first receipt, nothing sent again"},
    202: {
        "model": AcceptedOut,
        "description": "queued: accepted for the next Merkle batch (checked and stored), the "
        "receipt follows at the Location once the batch is anchored; or pending: sent singly "
        "and not mined in time, the Location tells where the transaction stands",
        "headers": {
            "Location": {"description": "the status URL", "schema": {"type": "string"}},
        },
    },
}


def accepted(queued: Queued, *, preference_applied: bool) -> JSONResponse:
    """Return the 202 answer of a queued agreement, its status URL as the Location."""
    body = queued_out(queued)
    headers = {"Location": body.status_url}
    if preference_applied:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)
