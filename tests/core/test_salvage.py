"""A type error does not hide the file's other problems: whatever is broken, loading reports every problem
it can find with a position, and never anything but `WorkflowInvalid`."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core.spec.load import load_text
from baton.core.spec.problems import WorkflowInvalid
from tests.helpers import FLOWS

DEMO = yaml.safe_load((FLOWS / "demo.yaml").read_text(encoding="utf-8"))
BUILTIN = ("fast", "strong")
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*path, i))
    return out


PATHS = _paths(DEMO)


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@settings(max_examples=150, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), JUNK), min_size=1, max_size=3))
def test_any_broken_demo_loads_or_lists_its_problems(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(DEMO)
    for path, value in changes:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced a parent of this path
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        load_text(text, "<fuzz>", BUILTIN)
    except WorkflowInvalid as exc:
        assert exc.problems
        assert all(p.line >= 1 and p.col >= 1 and p.message for p in exc.problems)
        assert len({str(p) for p in exc.problems}) == len(exc.problems), "no problem twice"


def test_a_type_error_and_a_route_typo_are_reported_together() -> None:
    data = copy.deepcopy(DEMO)
    data["steps"][0]["max_tokens"] = "lots"
    data["steps"][0]["routes"]["complex"] = "reserch"
    data["steps"][3]["temperature"] = "warm"
    try:
        load_text(yaml.safe_dump(data, sort_keys=False), "<demo>", BUILTIN)
    except WorkflowInvalid as exc:
        messages = [p.message for p in exc.problems]
    else:
        raise AssertionError("the workflow loaded")
    assert any(m.startswith("steps[0].max_tokens: expected a whole number") for m in messages), messages
    assert any("'reserch' is not a top-level step (did you mean 'research'?)" in m for m in messages), messages
    assert any(m.startswith("steps[3].temperature: expected a number") for m in messages), messages
    assert len(messages) == 3, messages
