"""Bounded JSON: the depth scan agrees with the parsed structure, and deep input is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.safejson import loads, nesting_depth

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(values)
def test_the_scan_measures_what_the_parser_builds(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert nesting_depth(text.encode()) == _depth(value)
    if _depth(value) <= 32:
        assert loads(text, field="x") == value


@pytest.mark.parametrize(
    "text", ['"[[[[[["', '{"a": "}}}}]]]]"}', '["\\"[[[[["]', '"\\\\"'], ids=str
)
def test_brackets_inside_strings_do_not_count(text: str) -> None:
    assert nesting_depth(text.encode()) == _depth(json.loads(text))


def test_input_nested_deeper_than_the_limit_is_refused_before_parsing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InvalidInput, match="nested deeper than 32"):
        loads(deep, field="body")
    assert loads("[" * 32 + "]" * 32, field="body") is not None
    with pytest.raises(InvalidInput, match="not valid JSON"):
        loads("{", field="body")
