"""State: declared types, reducers, and the ops `StateUpdated` carries — plain tests and properties."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core import events as ev
from baton.core.runner.context import Scope, combine
from baton.core.spec.model import StateKey
from baton.core.state import (
    apply_op,
    apply_ops,
    coerce_input,
    empty_value,
    estimate_tokens,
    make_op,
    render_value,
    size_chars,
    type_ok,
)
from baton.core.view import SessionView


@pytest.mark.parametrize(
    ("value", "type_name", "ok"),
    [
        ("x", "str", True),
        ("", "str", True),
        (1, "str", False),
        (1, "int", True),
        (True, "int", False),
        (1.5, "int", False),
        (1, "float", True),
        (1.5, "float", True),
        (False, "float", False),
        (True, "bool", True),
        (0, "bool", False),
        ({}, "dict", True),
        ([], "dict", False),
        ([], "list", True),
        ([1, "a"], "list", True),
        (["a", "b"], "list[str]", True),
        (["a", 1], "list[str]", False),
        ([1, 2.5], "list[float]", True),
        ([True], "list[int]", False),
        ([{}], "list[dict]", True),
        ("a", "list[str]", False),
        (0, "any", True),
        (None, "any", False),
        (None, "str", False),
        ("x", "nonsense", False),
    ],
)
def test_type_ok(value: Any, type_name: str, ok: bool) -> None:
    assert type_ok(value, type_name) is ok


def test_accumulators_start_empty_and_other_keys_start_missing() -> None:
    assert empty_value("list[str]", "append") == []
    assert empty_value("list", "append") == []
    assert empty_value("dict", "merge") == {}
    assert empty_value("str", "replace") is None
    assert empty_value("dict", "replace") is None
    assert empty_value("list[str]", "replace") is None


@pytest.mark.parametrize(
    ("raw", "type_name", "value"),
    [
        ("hello", "str", "hello"),
        ("[1]", "any", "[1]"),
        ("yes", "bool", True),
        (" Off ", "bool", False),
        ("42", "int", 42),
        ("42", "float", 42.0),
        ("2.5", "float", 2.5),
        ("a, b ,,c", "list[str]", ["a", "b", "c"]),
        ('["a", "b"]', "list[str]", ["a", "b"]),
        ('{"k": 1}', "dict", {"k": 1}),
        ("[1, 2]", "list[int]", [1, 2]),
    ],
)
def test_coerce_input(raw: str, type_name: str, value: Any) -> None:
    got = coerce_input(raw, type_name)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    ("raw", "type_name", "message"),
    [
        ("maybe", "bool", "expected true or false, got 'maybe'"),
        ("4.5", "int", "expected int, got '4.5'"),
        ("true", "int", "expected int, got 'true'"),
        ("{", "dict", "expected dict (as JSON), got '{'"),
        ('["a", 1]', "list[str]", "expected list[str], got '[\"a\", 1]'"),
    ],
)
def test_coerce_input_refuses_with_the_reason(raw: str, type_name: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        coerce_input(raw, type_name)
    assert str(info.value) == message


def test_each_reducer() -> None:
    state: dict[str, Any] = {"notes": ["a"], "facts": {"x": 1}, "title": "old"}
    apply_op(state, make_op("notes", "append", ["b", "c"]))
    apply_op(state, make_op("notes", "append", "d"))
    apply_op(state, make_op("facts", "merge", {"y": 2, "x": 3}))
    apply_op(state, make_op("title", "replace", "new"))
    apply_op(state, make_op("fresh", "append", "first"))
    apply_op(state, make_op("blank", "merge", {"k": "v"}))
    assert state == {
        "notes": ["a", "b", "c", "d"],
        "facts": {"x": 3, "y": 2},
        "title": "new",
        "fresh": ["first"],
        "blank": {"k": "v"},
    }
    apply_op(state, {"key": "title", "value": "no op kind means replace"})
    assert state["title"] == "no op kind means replace"


def test_ops_never_mutate_the_values_they_were_given() -> None:
    before = ["a"]
    given_list = ["b"]
    given_dict = {"k": 1}
    state: dict[str, Any] = {"l": before, "d": {"j": 0}}
    apply_ops(state, [make_op("l", "append", given_list), make_op("d", "merge", given_dict)])
    assert before == ["a"] and given_list == ["b"] and given_dict == {"k": 1}
    state["l"].append("c")
    assert given_list == ["b"]


def test_sizes_and_rendering() -> None:
    assert size_chars(None) == 0
    assert size_chars("héllo") == 5
    assert size_chars(["a", "b"]) == len('["a","b"]')
    assert size_chars({"k": "ü"}) == len('{"k":"ü"}')
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert render_value(None) == ""
    assert render_value("text") == "text"
    assert render_value(["a", "b"]) == "- a\n- b"
    assert json.loads(render_value({"k": [1, 2]})) == {"k": [1, 2]}
    assert json.loads(render_value([1, "a"])) == [1, "a"]


# --- properties ------------------------------------------------------------------------------------

SCHEMA = {
    "title": StateKey(type="any"),
    "notes": StateKey(type="list", reducer="append"),
    "facts": StateKey(type="dict", reducer="merge"),
}
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.text(max_size=5))
_json = st.recursive(
    _json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_item = _json.filter(lambda v: not isinstance(v, list))
_writes = st.fixed_dictionaries(
    {},
    optional={
        "title": _json.filter(lambda v: v is not None),
        "notes": st.lists(_json, max_size=3) | _item,
        "facts": st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _json, max_size=3),
    },
)
_state = st.fixed_dictionaries(
    {},
    optional={
        "title": _json,
        "notes": st.lists(_json, max_size=3),
        "facts": st.dictionaries(st.sampled_from(["a", "b", "e"]), _json, max_size=3),
    },
)


def ops_for(writes: dict[str, Any]) -> list[dict[str, Any]]:
    return [make_op(k, SCHEMA[k].reducer, v) for k, v in writes.items()]


def folded(state: dict[str, Any], *writes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(state)
    for w in writes:
        apply_ops(out, ops_for(w))
    return out


def reference(state: dict[str, Any], writes: dict[str, Any]) -> dict[str, Any]:
    """The reducers written out longhand: what each declared reducer means."""
    out = copy.deepcopy(state)
    for key, value in writes.items():
        reducer = SCHEMA[key].reducer
        if reducer == "append":
            out[key] = list(out.get(key) or []) + (list(value) if isinstance(value, list) else [value])
        elif reducer == "merge":
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = value
    return out


@settings(max_examples=300, deadline=None)
@given(state=_state, writes=st.lists(_writes, max_size=5))
def test_folding_ops_equals_applying_writes_through_reducers(
    state: dict[str, Any], writes: list[dict[str, Any]]
) -> None:
    expected = state
    for w in writes:
        expected = reference(expected, w)
    assert folded(state, *writes) == expected


@settings(max_examples=300, deadline=None)
@given(a=_writes, b=_writes, c=_writes)
def test_combine_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert combine(combine(a, b, SCHEMA), c, SCHEMA) == combine(a, combine(b, c, SCHEMA), SCHEMA)


@settings(max_examples=300, deadline=None)
@given(state=_state, a=_writes, b=_writes)
def test_combined_writes_apply_like_the_writes_in_order(
    state: dict[str, Any], a: dict[str, Any], b: dict[str, Any]
) -> None:
    assert folded(state, combine(a, b, SCHEMA)) == folded(state, a, b)
    assert combine({}, a, SCHEMA) == a
    assert combine(a, {}, SCHEMA) == a


@settings(max_examples=200, deadline=None)
@given(state=_state, writes=st.lists(_writes, max_size=5))
def test_a_branch_scope_fans_in_like_writing_at_the_root(state: dict[str, Any], writes: list[dict[str, Any]]) -> None:
    root = Scope(copy.deepcopy(state), SCHEMA, root=True)
    branch = root.fork()
    for w in writes:
        branch.apply(w)
    assert root.state == state, "a branch never changes its parent before fan-in"
    root.apply(branch.collected)
    assert root.state == folded(state, *writes)
    assert branch.state == root.state


@settings(max_examples=200, deadline=None)
@given(writes=st.lists(_writes, max_size=6))
def test_the_view_folds_state_updates_like_apply_ops(writes: list[dict[str, Any]]) -> None:
    view = SessionView("s")
    for seq, w in enumerate(writes, 1):
        view.apply(ev.Envelope("s", seq, float(seq), ev.StateUpdated(step="x", ops=ops_for(w))))
    assert view.state == folded({}, *writes)
