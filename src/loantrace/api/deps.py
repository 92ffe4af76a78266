"""Dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from loantrace.services.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """Return the runtime built at start-up."""
    return cast(Runtime, request.app.state.runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
