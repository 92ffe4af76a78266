"""`loantrace batcher`: the batcher as its own process, beside any number of API processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loantrace.cli import app
from loantrace.devtools.anvil import Anvil
from loantrace.domain.hexcodec import to_hex
from loantrace.services.intake import Queued
from tests.conftest import BoundChain, bound_runtime, make_signed, service_env

runner = CliRunner()


def test_the_batcher_refuses_the_embedded_chain() -> None:
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOANTRACE_")}
    result = runner.invoke(app, ["batcher", "--once"], env=clean)
    assert result.exit_code == 2
    assert "serve" in result.output


@pytest.mark.anvil
def test_batcher_once_anchors_what_the_api_queued(
    anvil: Anvil, anvil_chain: BoundChain, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    rt = bound_runtime(anvil_chain, database, batcher_in_serve=False)
    try:
        digests = []
        for _ in range(3):
            submission = make_signed(rt).submission
            assert isinstance(rt.intake.accept(submission), Queued)
            digests.append(submission.digest)
        env = service_env(rt, anvil.url, database) | {"LOANTRACE_QUEUE_WINDOW_MS": "1"}
        result = runner.invoke(app, ["batcher", "--once", "--json"], env=env)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report == {"lenders": [{"lender": rt.notary.lender, "batches": 1, "agreements": 3}]}
        for digest in digests:
            assert rt.intake.queued(digest) is None
            receipt = rt.notary.receipt(digest)
            assert (receipt.mode, receipt.digest) == ("batch", to_hex(digest))
            assert rt.verifier.verify(digest).verdict == "valid"
    finally:
        rt.close()
