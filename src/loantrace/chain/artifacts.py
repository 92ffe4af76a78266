"""Load the compiled contract artifacts shipped inside the package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """Return the committed build artifact (ABI, bytecode, compiler) of contract `name`."""
    text = resources.files("loantrace.chain").joinpath("artifacts", f"{name}.json").read_text()
    artifact: dict[str, Any] = json.loads(text)
    return artifact
