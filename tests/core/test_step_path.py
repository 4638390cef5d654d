"""StepPath: one value type for `a/b`, `m[3]`, `loop#2/write` (plain unit tests, no event loop)."""

from __future__ import annotations

import json

import pytest

from baton.core.step_path import Segment, StepPath, segment_id, under


@pytest.mark.parametrize(
    ("path", "parent", "step_id", "top", "tail"),
    [
        ("write", "", "write", "write", "write"),
        ("research/papers", "research", "papers", "research", "papers"),
        ("each[3]", "each", "each", "each", "[3]"),
        ("refine#2", "refine", "refine", "refine", "#2"),
        ("refine#2/write", "refine#2", "write", "refine", "write"),
        ("fan/m[0]", "fan/m", "m", "fan", "[0]"),
        ("each[3]/inner", "each[3]", "inner", "each", "inner"),
        ("review/manager", "review", "manager", "review", "manager"),
    ],
)
def test_reading_a_path(path: str, parent: str, step_id: str, top: str, tail: str) -> None:
    p = StepPath(path)
    assert p.parent == parent and isinstance(p.parent, StepPath)
    assert p.id == step_id
    assert p.top == top
    assert p.tail == tail


def test_only_a_plain_top_level_step_is_top() -> None:
    assert StepPath("write").is_top
    assert not StepPath("each[3]").is_top
    assert not StepPath("refine#2").is_top
    assert not StepPath("a/b").is_top
    assert not StepPath("").is_top


def test_segments() -> None:
    assert StepPath("refine#2/each[3]/w").segments == [
        Segment("refine", iteration=2),
        Segment("each", item=3),
        Segment("w"),
    ]
    assert StepPath("").segments == []


def test_builders_round_trip_through_parent() -> None:
    top = StepPath.top_level("refine")
    it = top.iteration(2)
    w = it.child("write")
    assert (it, w) == ("refine#2", "refine#2/write")
    assert w.parent == it and it.parent == top
    item = StepPath("each").item(7)
    assert item == "each[7]" and item.parent == "each"
    assert StepPath("").child("x") == "x"


def test_under_respects_segment_boundaries() -> None:
    assert StepPath("research/papers").under("research")
    assert StepPath("each[3]").under("each")
    assert StepPath("refine#2/write").under("refine")
    assert StepPath("research").under("research")
    assert not StepPath("researcher").under("research"), "a longer id is not inside"
    assert not StepPath("research").strictly_under("research")
    assert under("each[1]", "each") and not under("eachother", "each")


def test_a_path_is_its_string_on_the_wire() -> None:
    p = StepPath("a").child("b")
    assert json.dumps({"step": p}) == '{"step": "a/b"}'
    assert {"a/b": 1}[p] == 1
    assert p == "a/b" and hash(p) == hash("a/b")


def test_parse_names_the_bad_segment() -> None:
    assert StepPath.parse("refine#2/write") == "refine#2/write"
    with pytest.raises(ValueError, match="'b c'"):
        StepPath.parse("a/b c")
    with pytest.raises(ValueError, match="empty"):
        StepPath.parse("")


def test_segment_id() -> None:
    assert segment_id("each[3]") == "each" and segment_id("refine#2") == "refine" and segment_id("x") == "x"
