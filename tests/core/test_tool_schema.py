"""A Python tool as a model sees it: the JSON schema built from its signature, hints and docstring; a callable
that cannot be described is refused with the parameter named; arguments from a model or a person are checked
against a schema with a short, exact reason — whatever the schema, which for MCP tools comes from a server."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import time
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from baton.core.spec.tool_schema import FunctionSchema, ToolSchemaError, check_args, function_schema, parse_arguments
from tests.fixtures.agent_tools import broken, research


def params(fn: Any) -> dict[str, Any]:
    return function_schema(fn, "tool").parameters


def test_a_google_docstring_gives_the_description_and_each_parameter_s() -> None:
    schema = function_schema(research.search, "search")
    assert schema == FunctionSchema(
        "search",
        "Search the bundled notes.\n\nFinds the notes whose text contains the query.\n\nReturns:\n    The matching "
        "note names.",
        {
            "additionalProperties": False,
            "properties": {
                "q": {"description": "What to look for.", "type": "string"},
                "limit": {"default": 5, "description": "How many notes to return at most.", "type": "integer"},
                "kinds": {
                    "anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}],
                    "default": None,
                    "description": "Only notes of these kinds.",
                },
            },
            "required": ["q"],
            "type": "object",
        },
    )
    assert schema.tool() == {
        "type": "function",
        "function": {"name": "search", "description": schema.description, "parameters": schema.parameters},
    }
    json.dumps(schema.tool())  # what the gateway sends must be JSON


def test_a_sphinx_docstring_and_an_async_function_with_a_literal() -> None:
    schema = function_schema(research.read_file, "read")
    assert schema.description == "Read one note.\n\n:returns: the note's text"
    assert schema.parameters == {
        "additionalProperties": False,
        "properties": {
            "path": {"description": "The note's path, relative to the notes folder.", "type": "string"},
            "encoding": {
                "default": "utf-8",
                "description": "How its bytes are decoded.",
                "enum": ["utf-8", "latin-1"],
                "type": "string",
            },
        },
        "required": ["path"],
        "type": "object",
    }


def test_a_numpy_docstring_a_model_an_enum_and_the_runner_s_idempotency_key() -> None:
    schema = function_schema(research.write_report, "write_report")
    assert schema.description == "Write the report file.\n\nReturns\n-------\nstr\n    The path written."
    assert schema.parameters == {
        "$defs": {
            "Section": {
                "description": "One section of a report.",
                "properties": {"title": {"type": "string"}, "body": {"default": "", "type": "string"}},
                "required": ["title"],
                "type": "object",
            },
            "Tone": {"description": "How a report reads.", "enum": ["plain", "formal"], "type": "string"},
        },
        "additionalProperties": False,
        "properties": {
            "path": {"description": "Where the report goes.", "type": "string"},
            "sections": {
                "description": "The report's sections, in order.",
                "items": {"$ref": "#/$defs/Section"},
                "type": "array",
            },
            "tone": {"$ref": "#/$defs/Tone", "default": "plain", "description": "How it reads."},
            "draft": {"default": True, "type": "boolean"},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        },
        "required": ["path", "sections"],
        "type": "object",
    }
    assert "idempotency_key" not in json.dumps(schema.parameters)


def test_a_callable_object_an_annotated_description_and_an_override() -> None:
    schema = function_schema(research.COUNTER, "count")
    assert schema.description == "Count the words of a text."
    assert schema.parameters["properties"] == {
        "text": {"description": "The text to count.", "type": "string"},
        "min_length": {"default": 1, "type": "integer"},
    }
    assert function_schema(research.COUNTER, "count", description="Counts.").description == "Counts."
    assert function_schema(research.COUNTER, "count", description="").description == ""


class Mode(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Book(BaseModel):
    title: str


def test_plain_types_optional_defaults_and_names_pydantic_itself_uses() -> None:
    def f(
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        words: list[str],
        table: dict[str, int],
        maybe: Optional[int] = None,  # noqa: UP045 (the spelling authors still write)
        mode: Mode = Mode.LOW,
        where: Point | None = None,
        json: str = "",
        model_config: int = 0,
        _private: bool = False,
        untyped=3,  # type: ignore[no-untyped-def]
    ) -> None:
        """No sections here."""

    got = params(f)
    assert got["required"] == ["text", "count", "ratio", "flag", "words", "table"]
    props = got["properties"]
    assert props["text"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["words"] == {"items": {"type": "string"}, "type": "array"}
    assert props["table"] == {"additionalProperties": {"type": "integer"}, "type": "object"}
    assert props["maybe"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["mode"] == {"$ref": "#/$defs/Mode", "default": 1}
    assert got["$defs"]["Mode"] == {"enum": [1, 2], "type": "integer"}
    assert got["$defs"]["Point"]["required"] == ["x", "y"]
    assert props["json"] == {"default": "", "type": "string"}
    assert props["model_config"] == {"default": 0, "type": "integer"}
    assert props["_private"] == {"default": False, "type": "boolean"}
    assert props["untyped"] == {"default": 3}


def test_a_property_called_title_is_kept_while_generated_titles_go() -> None:
    def shelve(title: str, book: Book) -> None:
        """Shelve it."""

    got = params(shelve)
    assert list(got["properties"]) == ["title", "book"]
    book = {"properties": {"title": {"type": "string"}}, "required": ["title"], "type": "object"}
    assert got["$defs"]["Book"] == book
    assert "title" not in got and "title" not in got["properties"]["title"]


def test_functions_without_parameters_partials_and_classes() -> None:
    def ping() -> str:
        """Say pong."""
        return "pong"

    def scaled(value: int, factor: int) -> int:
        return value * factor

    class Greeter:
        """Greets someone."""

        def __init__(self, who: str) -> None:
            self.who = who

    class Bare(BaseModel):
        who: str

    assert function_schema(ping, "ping") == FunctionSchema(
        "ping", "Say pong.", {"additionalProperties": False, "properties": {}, "type": "object"}
    )
    assert list(params(functools.partial(scaled, factor=2))["properties"]) == ["value", "factor"]
    assert function_schema(Greeter, "greet").description == "Greets someone."
    assert params(Greeter)["required"] == ["who"]
    assert function_schema(Bare, "bare").description == ""  # not BaseModel's own docstring


def test_docstring_sections_other_than_the_parameters_stay_in_the_description() -> None:
    def f(a: int, b: int = 0) -> int:
        """Add numbers.

        Args:
            a (int): The first.
            b: The second,
                which may be left out.

        Raises:
            ValueError: never.
        """
        return a + b

    schema = function_schema(f, "add")
    assert schema.description == "Add numbers.\n\nRaises:\n    ValueError: never."
    assert schema.parameters["properties"]["b"]["description"] == "The second, which may be left out."


@pytest.mark.parametrize(
    ("fn", "reason"),
    [
        (
            broken.spread,
            "parameter '*terms': a model passes arguments by name, so *args cannot be described in a schema",
        ),
        (
            broken.configure,
            "parameter '**options': a schema lists every argument by name, so **kwargs cannot be described",
        ),
        (
            broken.connect,
            "parameter 'conn': pydantic cannot make a JSON schema for socket.socket (use str, int, float, bool, "
            "a list, a Literal, an Enum, a dataclass or a pydantic model)",
        ),
        (
            broken.call_back,
            "parameter 'on_done': pydantic cannot make a JSON schema for collections.abc.Callable[[str], None] "
            "(use str, int, float, bool, a list, a Literal, an Enum, a dataclass or a pydantic model)",
        ),
        (broken.later, "parameter 'item': its type hint 'Missing' cannot be resolved (name 'Missing' is not defined)"),
        (broken.first, "parameter 'value' is positional-only: a model passes arguments by name"),
        (len, "parameter 'obj' is positional-only: a model passes arguments by name"),
    ],
)
def test_a_callable_no_model_can_call_is_refused_with_the_parameter_named(fn: Any, reason: str) -> None:
    with pytest.raises(ToolSchemaError) as raised:
        function_schema(fn, "tool")
    assert str(raised.value) == reason


SEARCH = params(research.search)
REPORT = params(research.write_report)


@pytest.mark.parametrize(
    ("schema", "args", "reason"),
    [
        (SEARCH, {}, "'q' is required"),
        (SEARCH, {"limit": 2}, "'q' is required"),
        (SEARCH, {"q": "x", "limit": "x"}, "'limit': 'x' is not of type 'integer'"),
        (SEARCH, {"q": 3}, "'q': 3 is not of type 'string'"),
        (SEARCH, {"q": "x", "kinds": ["a", 2]}, "'kinds[1]': 2 is not of type 'string'"),
        (SEARCH, {"q": "x", "limt": 2}, "unexpected argument 'limt' (the arguments are q, limit, kinds)"),
        (REPORT, {"path": "p", "sections": [{"body": "b"}]}, "'sections[0].title' is required"),
        (REPORT, {"path": "p", "sections": [], "tone": "loud"}, "'tone': 'loud' is not one of 'plain', 'formal'"),
        (SEARCH, ["q"], "arguments must be a JSON object, not a list"),
        (SEARCH, "q", "arguments must be a JSON object, not a string"),
        (
            {"type": "object", "properties": {"q": {"type": "string"}}},
            {"q": "x" * 500 + "y"},
            None,
        ),
        (
            {"type": "object", "properties": {"n": {"type": "integer"}}},
            {"n": "z" * 500},
            "'n': '" + "z" * 56 + "... is not of type 'integer'",
        ),
        (
            {"type": "object", "properties": {"id": {"pattern": "^[a-z]+$"}}},
            {"id": "A1"},
            "'id': 'A1' does not match '^[a-z]+$'",
        ),
        ({"type": "object", "properties": {"n": {"minimum": 1}}}, {"n": 0}, "'n': 0 is less than the minimum of 1"),
    ],
)
def test_check_args_gives_the_first_problem_exactly(schema: dict[str, Any], args: Any, reason: str | None) -> None:
    if reason is None:
        assert check_args(schema, args) is args
        return
    with pytest.raises(ValueError) as raised:
        check_args(schema, args)
    assert str(raised.value) == reason


def test_check_args_returns_arguments_the_schema_accepts() -> None:
    args = {"path": "r.md", "sections": [{"title": "One"}], "tone": "formal", "score": None}
    assert check_args(REPORT, args) == args
    assert check_args({"type": "object", "properties": {}}, {}) == {}


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def laughs(levels: int) -> dict[str, Any]:
    """A schema of a few dozen parts whose `$ref`s stand for 2**levels of them."""
    defs: dict[str, Any] = {"d0": {"type": "string"}}
    for i in range(1, levels):
        defs[f"d{i}"] = {"allOf": [{"$ref": f"#/$defs/d{i - 1}"}, {"$ref": f"#/$defs/d{i - 1}"}]}
    return {"$defs": defs, "type": "object", "properties": {"a": {"$ref": f"#/$defs/d{levels - 1}"}}}


@pytest.mark.parametrize(
    ("schema", "args", "reason"),
    [
        (nested(5000), {"a": {}}, "the tool's schema is nested more than 64 levels deep: it is not checked"),
        (
            {"type": "object", "properties": {f"p{i}": {"enum": list(range(50))} for i in range(2000)}},
            {},
            "the tool's schema has more than 50000 parts: it is not checked",
        ),
        (
            laughs(40),
            {"a": "x"},
            "the tool's schema stands for more than 50000 parts once its $refs are followed: it is not checked",
        ),
        ({"$ref": "#"}, {"a": 1}, "arguments are nested too deeply to check against the tool's schema"),
        (
            {"$ref": "https://example.invalid/schema.json"},
            {},
            "the tool's schema cannot be used to check arguments: Unresolvable: https://example.invalid/schema.json",
        ),
        (
            {"type": "objekt"},
            {},
            "the tool's schema is not valid JSON schema at type: 'objekt' is not valid under any of the given schemas",
        ),
        (
            {"properties": {"s": {"pattern": "("}}},
            {"s": "x"},
            "the tool's schema is not valid JSON schema at properties/s/pattern: '(' is not a 'regex'",
        ),
        (
            {"default": float("nan")},
            {},
            "the tool's schema is not JSON: Out of range float values are not JSON compliant",
        ),
    ],
)
def test_a_hostile_or_broken_schema_is_refused_quickly(schema: Any, args: Any, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError) as raised:
        check_args(schema, args)
    assert str(raised.value).startswith(reason), str(raised.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("pattern", ["^(a|aa)*$", "^(a+)+$", "^(\\w+\\s?)*$", "^(a|a?)+$"])
def test_a_pattern_that_backtracks_for_ages_does_not_stall_the_check(pattern: str) -> None:
    value = "a" * 40 + "!"
    started = time.monotonic()
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    keyed = {"type": "object", "patternProperties": {pattern: {"type": "integer"}}, "additionalProperties": False}
    for checked, args in ((schema, {"s": value}), (keyed, {value: 1})):
        try:  # told in time that it does not match, or let through undecided (the tool checks its own input)
            assert check_args(checked, args) == args
        except ValueError as exc:
            assert str(exc) in (f"'s': '{value}' does not match {pattern!r}", f"unexpected argument '{value}'")
    assert time.monotonic() - started < 2


def test_a_pattern_undecided_in_time_lets_the_value_through() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a|aa)*$"}}}
    assert check_args(schema, {"s": "a" * 40 + "!"}) == {"s": "a" * 40 + "!"}
    with pytest.raises(ValueError, match=r"^'s': 'b' does not match"):
        check_args(schema, {"s": "b"})


def test_pattern_properties_still_check_what_they_match() -> None:
    schema = {"type": "object", "patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": False}
    with pytest.raises(ValueError, match=r"^'x_a': 's' is not of type 'integer'$"):
        check_args(schema, {"x_a": "s"})
    with pytest.raises(ValueError, match=r"^unexpected argument 'y'$"):
        check_args(schema, {"y": 1})


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("", {}), ("  \n", {}), ('{"q": "x", "n": [1, 2]}', {"q": "x", "n": [1, 2]}), ("{}", {})],
)
def test_parse_arguments(text: str, parsed: dict[str, Any]) -> None:
    assert parse_arguments(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1, 2]", "arguments must be a JSON object, not a list"),
        ('"q"', "arguments must be a JSON object, not a string"),
        ("3", "arguments must be a JSON object, not a number"),
        ("true", "arguments must be a JSON object, not a boolean"),
        ("null", "arguments must be a JSON object, not null"),
        ('{"q": ', "arguments are not JSON: Expecting value (line 1, column 7)"),
        ("{q: 1}", "arguments are not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ('{"n": NaN}', "arguments are not JSON: NaN is not a JSON value"),
        ("[" * 100_000, "arguments are not JSON this can read: nested too deeply"),
    ],
)
def test_parse_arguments_says_why_not(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_arguments(text)
    assert str(raised.value) == reason


def test_a_schema_built_here_accepts_what_the_function_takes() -> None:
    def tag(item: Annotated[str, Field(min_length=1)], labels: list[Literal["a", "b"]]) -> None:
        """Tag an item."""

    schema = params(tag)
    assert check_args(schema, parse_arguments('{"item": "x", "labels": ["a"]}')) == {"item": "x", "labels": ["a"]}
    with pytest.raises(ValueError, match=r"^'labels\[0\]': 'c' is not one of 'a', 'b'$"):
        check_args(schema, {"item": "x", "labels": ["c"]})
    with pytest.raises(ValueError, match=r"^'item': '' should be non-empty$"):
        check_args(schema, {"item": "", "labels": []})
