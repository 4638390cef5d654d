"""Structured outputs: the JSON schema a step asks for, and validation of what comes back (model or person)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core.llm.offline import structured
from baton.core.spec.model import output_type_problem
from baton.core.structured import (
    JUDGE_FIELDS,
    OutputInvalid,
    enum_values,
    json_schema,
    manager_fields,
    parse_reply,
    router_fields,
    validate,
)

FIELDS = {
    "category": "enum[bug, billing, how-to]",
    "urgency": "int",
    "confidence": "float",
    "summary": "str",
    "tags": "list[enum[a, b, c]]",
    "notes": "list[str]?",
    "extra": "dict?",
}


def test_enum_values() -> None:
    assert enum_values("enum[a, b ,c]") == ["a", "b", "c"]
    assert enum_values("enum[a, b]?") == ["a", "b"]
    assert enum_values("enum[]") == []
    assert enum_values("str") is None
    assert enum_values("list[enum[a]]") is None


def test_json_schema_of_the_fields() -> None:
    schema = json_schema(FIELDS, name="classify ticket!")
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["name"] == "classify_ticket_"
    body = schema["json_schema"]["schema"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["category", "urgency", "confidence", "summary", "tags"]
    assert body["properties"] == {
        "category": {"type": "string", "enum": ["bug", "billing", "how-to"]},
        "urgency": {"type": "integer"},
        "confidence": {"type": "number"},
        "summary": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    }


def test_a_good_reply_validates_and_floats_are_floats() -> None:
    reply = {"category": "bug", "urgency": 3, "confidence": 1, "summary": "s", "tags": ["a", "c"], "notes": None}
    assert validate(reply, FIELDS) == {
        "category": "bug",
        "urgency": 3,
        "confidence": 1.0,
        "summary": "s",
        "tags": ["a", "c"],
    }
    assert isinstance(validate(reply, FIELDS)["confidence"], float)


def test_every_problem_is_named_at_once() -> None:
    reply = {"category": "other", "urgency": True, "confidence": "high", "tags": ["a", "z"], "surprise": 1, "more": 2}
    with pytest.raises(OutputInvalid) as info:
        validate(reply, FIELDS)
    assert str(info.value) == (
        "'category' must be one of bug, billing, how-to, got 'other'; "
        "'urgency' must be int, got bool; "
        "'confidence' must be float, got str; "
        "missing field 'summary'; "
        "'tags' must be a list of a, b, c, got ['a', 'z']; "
        "unexpected fields 'more', 'surprise'"
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(OutputInvalid, match="'confidence' must be a finite number"):
        validate({"confidence": bad}, {"confidence": "float"})
    with pytest.raises(OutputInvalid, match="must be a finite number"):
        parse_reply('{"confidence": NaN}', {"confidence": "float"})
    with pytest.raises(OutputInvalid, match="'scores' must be a finite number"):
        validate({"scores": [1.0, bad]}, {"scores": "list[float]"})


def test_not_an_object() -> None:
    with pytest.raises(OutputInvalid, match="^expected a JSON object, got list$"):
        validate([1], FIELDS)
    with pytest.raises(OutputInvalid, match=r"^reply is not JSON: Expecting value at char 0$"):
        parse_reply("no json here", FIELDS)
    with pytest.raises(OutputInvalid, match=r"^reply is not JSON: "):
        parse_reply('{"route": "a"', router_fields(["a"]))


@pytest.mark.parametrize(
    "text",
    [
        '{"route": "a", "reason": "r"}',
        '```json\n{"route": "a", "reason": "r"}\n```',
        '```\n{"route": "a", "reason": "r"}\n```',
        'Sure! Here it is: {"route": "a", "reason": "r"} Hope that helps.',
        '  \n{"route": "a", "reason": "r"}\n',
    ],
)
def test_parse_reply_tolerates_fences_and_chatter(text: str) -> None:
    assert parse_reply(text, router_fields(["a", "b"])) == {"route": "a", "reason": "r"}


def test_router_manager_and_judge_fields() -> None:
    assert router_fields(["simple", "complex"]) == {"route": "enum[simple, complex]", "reason": "str"}
    assert manager_fields(["security", "legal"]) == {"workers": "list[enum[security, legal]]", "reason": "str"}
    assert JUDGE_FIELDS == {"pass": "bool", "feedback": "str"}
    for fields in (router_fields(["a"]), manager_fields(["w"]), JUDGE_FIELDS):
        assert all(output_type_problem(t) is None for t in fields.values())


# --- properties ------------------------------------------------------------------------------------

_labels = st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True), min_size=1, max_size=5, unique=True)
_base = st.one_of(
    st.sampled_from(["str", "int", "float", "bool", "dict", "list", "list[str]", "list[int]", "list[float]", "any"]),
    _labels.map(lambda v: f"enum[{', '.join(v)}]"),
    _labels.map(lambda v: f"list[enum[{', '.join(v)}]]"),
)
_fields = st.dictionaries(
    st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
    st.tuples(_base, st.booleans()).map(lambda t: t[0] + ("?" if t[1] else "")),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(fields=_fields, seed=st.integers(0, 2**32), prompt=st.text(max_size=30))
def test_the_offline_models_structured_reply_always_satisfies_the_schema(
    fields: dict[str, str], seed: int, prompt: str
) -> None:
    schema = json_schema(fields)["json_schema"]["schema"]
    value = structured(schema, random.Random(seed), prompt)
    checked = parse_reply(json.dumps(value), fields)
    assert set(checked) <= set(fields)
    for name, typ in fields.items():
        if not typ.endswith("?") or value.get(name) is not None:
            assert name in checked


def _corrupt(typ: str) -> Any:
    base = typ.removesuffix("?")
    if base in ("str",) or enum_values(base) is not None:
        return 12345
    if base in ("int", "float"):
        return "not a number"
    if base == "bool":
        return "yes"
    if base == "dict":
        return ["not", "a", "dict"]
    return {"not": "a list"}


@settings(max_examples=300, deadline=None)
@given(fields=_fields, seed=st.integers(0, 2**32), data=st.data())
def test_a_reply_with_one_wrong_field_is_refused_and_names_that_field(
    fields: dict[str, str], seed: int, data: st.DataObject
) -> None:
    wrong = data.draw(st.sampled_from(sorted(n for n, t in fields.items() if t.removesuffix("?") != "any") or [""]))
    if not wrong:
        return
    value = structured(json_schema(fields)["json_schema"]["schema"], random.Random(seed), "p")
    value[wrong] = _corrupt(fields[wrong])
    with pytest.raises(OutputInvalid) as info:
        validate(value, fields)
    assert f"'{wrong}'" in str(info.value)
