"""The batcher as its own process: anchor queued agreements in Merkle batches."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loantrace.cli_common import JsonOption, console, emit, fail, load_settings, setup_logging


def batcher(
    once: Annotated[
        bool, typer.Option("--once", help="close what is due now (and any cut short), then exit")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Anchor agreements queued by POST /v1/agreements (202) in Merkle batches, each closed
    when full (LOANTRACE_QUEUE_BATCH_SIZE) or when its oldest has waited
    LOANTRACE_QUEUE_WINDOW_MS. Any number may run beside `serve`: one at a time closes a
    lender's batches. Run it apart with LOANTRACE_BATCHER_IN_SERVE=false to keep the API
    processes' CPU for accepting."""
    import signal
    import threading

    from loantrace.bootstrap import Runtime

    settings = load_settings()
    setup_logging(settings.log_level)
    if settings.embedded:
        fail(
            "the embedded chain lives inside one process: `loantrace serve` runs the batcher "
            "itself. Set LOANTRACE_RPC_URL to run a separate batcher against a real node"
        )
    runtime = Runtime.start(settings)
    try:
        if once:
            runs = [(b.lender, b.run_once()) for b in runtime.batchers]
            report = {
                "lenders": [
                    {"lender": lender, "batches": run.batches, "agreements": run.agreements}
                    for lender, run in runs
                ]
            }
            emit(report, as_json, _print_round)
            return
        if as_json:
            fail("--json reports one round: give --once too")
        stop = threading.Event()

        def halt(*_: object) -> None:
            stop.set()
            for each in runtime.batchers:
                each.wake()

        signal.signal(signal.SIGTERM, halt)
        signal.signal(signal.SIGINT, halt)
        threads = [
            threading.Thread(target=b.run_forever, args=(stop,), name="batcher", daemon=True)
            for b in runtime.batchers
        ]
        for thread in threads:
            thread.start()
        console.print(
            f"batcher running for {len(threads)} lender(s): batches of up to "
            f"{settings.queue_batch_size}, closed after {settings.queue_window_ms} ms"
        )
        stop.wait()
        for thread in threads:
            thread.join(timeout=30)  # a batch being anchored is recorded before the exit
    finally:
        runtime.close()


def _print_round(report: dict[str, Any]) -> None:
    for line in report["lenders"]:
        console.print(
            f"{line['lender']}: anchored {line['agreements']} agreements "
            f"in {line['batches']} batches"
        )
