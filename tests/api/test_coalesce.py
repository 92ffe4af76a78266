"""The coalescer: concurrent callers share batches, each gets its own answer or error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from loantrace.api.coalesce import Coalescer
from loantrace.domain.errors import Unavailable


class Squares:
    """A batch function that records the batches it ran and can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on: int | None = None

    def __call__(self, keys: Sequence[int]) -> list[int]:
        self.gate.wait(5)
        self.batches.append(list(keys))
        if self.fail_on is not None and self.fail_on in keys:
            raise ValueError(f"cannot square {self.fail_on}")
        return [k * k for k in keys]


def test_one_caller_alone_is_served_at_once() -> None:
    work = Squares()
    coalescer: Coalescer[int, int] = Coalescer(work)
    assert asyncio.run(coalescer.submit(7)) == 49
    assert work.batches == [[7]]


def test_concurrent_callers_share_batches_and_get_their_own_answers() -> None:
    work = Squares()
    work.gate.clear()  # hold the first batch so that the others gather behind it
    coalescer: Coalescer[int, int] = Coalescer(work, in_flight=1)

    async def main() -> list[int]:
        first = asyncio.create_task(coalescer.submit(0))
        await asyncio.sleep(0.05)  # its batch is running (held)
        calls = [asyncio.create_task(coalescer.submit(k)) for k in range(1, 50)]
        await asyncio.sleep(0.05)
        work.gate.set()
        return await asyncio.gather(first, *calls)

    assert asyncio.run(main()) == [k * k for k in range(50)]
    assert sorted(k for batch in work.batches for k in batch) == list(range(50))
    assert len(work.batches) == 2  # the first caller alone, then everyone who waited


def test_a_batch_never_exceeds_its_size() -> None:
    work = Squares()
    work.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(work, in_flight=1, max_batch=8)

    async def main() -> list[int]:
        calls = [asyncio.create_task(coalescer.submit(k)) for k in range(30)]
        await asyncio.sleep(0.05)
        work.gate.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [k * k for k in range(30)]
    assert max(len(b) for b in work.batches) == 8


def test_a_failing_batch_fails_its_callers_only() -> None:
    work = Squares()
    work.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(work, in_flight=1, max_batch=5)
    work.fail_on = 3

    async def main() -> list[int | BaseException]:
        calls = [asyncio.create_task(coalescer.submit(k)) for k in range(10)]
        await asyncio.sleep(0.05)
        work.gate.set()
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(main())
    failed_batch = next(b for b in work.batches if 3 in b)
    for k, answer in enumerate(answers):
        if k in failed_batch:
            assert isinstance(answer, ValueError)
        else:
            assert answer == k * k
    assert any(not isinstance(a, BaseException) for a in answers)


def test_too_many_waiting_is_answered_unavailable_at_once() -> None:
    work = Squares()
    work.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(work, in_flight=1, max_waiting=4)

    async def main() -> list[int | BaseException]:
        first = asyncio.create_task(coalescer.submit(0))  # taken by the (held) batch
        await asyncio.sleep(0.05)
        calls = [asyncio.create_task(coalescer.submit(k)) for k in range(1, 7)]
        await asyncio.sleep(0.05)
        work.gate.set()
        return await asyncio.gather(first, *calls, return_exceptions=True)

    answers = asyncio.run(main())
    refused = [a for a in answers if isinstance(a, Unavailable)]
    assert len(refused) == 2  # four may wait behind the running batch
    assert [a for a in answers if not isinstance(a, BaseException)] == [0, 1, 4, 9, 16]


def test_a_caller_that_goes_away_does_not_disturb_the_others() -> None:
    work = Squares()
    work.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(work, in_flight=1)

    async def main() -> list[int]:
        first = asyncio.create_task(coalescer.submit(1))
        await asyncio.sleep(0.02)
        leaving = asyncio.create_task(coalescer.submit(2))
        staying = asyncio.create_task(coalescer.submit(3))
        await asyncio.sleep(0.02)
        leaving.cancel()
        work.gate.set()
        return list(await asyncio.gather(first, staying))

    assert asyncio.run(main()) == [1, 9]
    assert [2] not in work.batches
    assert all(2 not in b for b in work.batches)


def test_a_wrong_number_of_answers_is_an_error_not_a_mix_up() -> None:
    coalescer: Coalescer[int, int] = Coalescer(lambda keys: [1])

    async def main() -> list[int | BaseException]:
        calls = [asyncio.create_task(coalescer.submit(k)) for k in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = asyncio.run(main())
    assert answers[0] == 1 or isinstance(answers[0], RuntimeError)
    assert any(isinstance(a, RuntimeError) for a in answers)


@pytest.mark.parametrize("bad", [{"max_batch": 0}, {"in_flight": 0}, {"max_waiting": 0}])
def test_limits_must_be_positive(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        Coalescer(lambda keys: list(keys), **bad)


def test_a_key_queued_as_the_runner_leaves_is_still_served() -> None:
    """A caller woken by its answer submits again at once, in the loop turn where the runner
    has left but its task is not yet known to be done: the key must not wait forever (it did
    with one batch in flight, under load in CI, as a 60 s timeout)."""
    coalescer: Coalescer[int, int] = Coalescer(lambda keys: [k + 1 for k in keys], in_flight=1)

    async def main() -> int:
        value = 0
        for _ in range(200):  # awaited directly: resumed in the runner's last loop turn
            value = await coalescer.submit(value)
        return value

    async def guarded() -> int:
        return await asyncio.wait_for(main(), timeout=10)

    assert asyncio.run(guarded()) == 200
