"""Rows to plain records: every record's fields are named as the columns they come from."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    R = TypeVar("R", bound=DataclassInstance)
else:
    R = TypeVar("R")


def record_of(cls: type[R], row: Any) -> R:
    """Return the plain record `cls` of `row`, field by field (a row must be flushed: an
    unassigned id is an error, not a None in a record that promises an int)."""
    if getattr(row, "id", 0) is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it before reading it back")
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})
