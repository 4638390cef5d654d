"""The offline `mock/` model calls tools through litellm's real streaming path: scripted calls (by call number,
by turn of the loop, by prompt), deterministic calls of the tools a message names with arguments that satisfy
their schemas, a report from the results on the next turn, stable call ids, `tool_choice` and parallel calls
honoured, and scripted faults on tool-call turns."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, Field, ValidationError

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.offline import plan
from baton.core.llm.offline_tools import arguments_for
from baton.core.llm.types import LLMRequest, LLMResult, ModelError
from baton.core.spec.model import MockReply, MockSpec
from tests.fakes.harness import fake
from tests.fakes.openai_server import Answer, FakeOpenAI, ToolCall

__all__ = ["fake"]

PROMPT = "Research heat pumps in cold climates: use search, then read_file on notes/heat.md."


class Filters(BaseModel):
    region: str
    years: list[int]
    strict: bool


class SearchArgs(BaseModel):
    q: str = Field(min_length=3, max_length=40)
    limit: int = Field(ge=2, le=50)
    mode: str = Field(json_schema_extra={"enum": ["fast", "deep"]})
    filters: Filters
    tags: list[str]
    weight: float = Field(gt=0.5)
    since: str = Field(json_schema_extra={"format": "date"})
    page: int = 1


def tool(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    params = schema or {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    return {"type": "function", "function": {"name": name, "description": f"The {name} tool.", "parameters": params}}


TOOLS = [
    tool("search", SearchArgs.model_json_schema()),
    tool("read_file", {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    tool("write_report"),
]


def ask(prompt: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You research with tools."}, {"role": "user", "content": prompt}]


def request(messages: list[dict[str, Any]], mock: dict[str, Any] | None = None, **changes: Any) -> LLMRequest:
    return LLMRequest(
        model="mock/fast", alias="fast", messages=messages, mock=mock, **{"tools": TOOLS, **changes}
    )


def scripted(*replies: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A mock behaviour as the runner hands it over: validated, then dumped as written."""
    return MockSpec.model_validate({"replies": list(replies), **spec}).model_dump()


async def call(llm: LiteLLMGateway, req: LLMRequest, shown: list[str] | None = None) -> LLMResult:
    return await llm.stream(req, (shown if shown is not None else []).append, first_token_s=10, idle_s=10)


def with_results(messages: list[dict[str, Any]], result: LLMResult, outputs: dict[str, str]) -> list[dict[str, Any]]:
    """The conversation after a tool-call turn: the assistant's calls and one result per call."""
    return [
        *messages,
        {"role": "assistant", "content": result.text or None, "tool_calls": [c.message() for c in result.tool_calls]},
        *({"role": "tool", "tool_call_id": c.id, "content": outputs[c.name]} for c in result.tool_calls),
    ]


@pytest.fixture
async def llm() -> LiteLLMGateway:
    gateway = LiteLLMGateway()
    await gateway.warm_up()
    return gateway


# --- scripted --------------------------------------------------------------------------------------


async def test_scripted_calls_by_call_number_then_text(llm: LiteLLMGateway) -> None:
    calls = [{"name": "search", "args": {"q": "x"}}, {"name": "read_file", "args": {"path": "a"}}]
    mock = scripted(
        {"call": 1, "tool_calls": calls},
        {"call": 2, "text": "done"},
    )
    first = await call(llm, request(ask(), mock))
    assert first.text == ""
    assert [(c.name, json.loads(c.arguments)) for c in first.tool_calls] == [
        ("search", {"q": "x"}),
        ("read_file", {"path": "a"}),
    ]
    assert all(c.id.startswith("call_") and len(c.id) == 17 for c in first.tool_calls)
    assert first.tokens_out > 2 and first.cost_usd is not None and first.cost_usd > 0
    second = await call(llm, request(with_results(ask(), first, {"search": "3 hits", "read_file": "text"}), mock))
    assert (second.text, second.tool_calls) == ("done", ())
    assert llm.offline.calls["mock/fast"] == 2


async def test_scripted_by_turn_survives_a_new_process(llm: LiteLLMGateway) -> None:
    """`turn` is read from the conversation, so a resumed loop (a fresh provider, counters at zero) goes on."""
    mock = scripted(
        {"turn": 1, "text": "Looking.", "tool_calls": [{"name": "search", "args": {"q": "heat"}}]},
        {"turn": 2, "text": "The notes agree."},
    )
    first = await call(llm, request(ask(), mock))
    assert first.text == "Looking." and [c.name for c in first.tool_calls] == ["search"]
    resumed = LiteLLMGateway()
    second = await call(resumed, request(with_results(ask(), first, {"search": "3 hits"}), mock))
    assert resumed.offline.calls["mock/fast"] == 1
    assert (second.text, second.tool_calls) == ("The notes agree.", ())


async def test_scripted_raw_arguments_fixed_ids_and_a_match_on_results(llm: LiteLLMGateway) -> None:
    mock = scripted(
        {"match": "RESULT-OK", "text": "all good"},
        {"tool_calls": [{"name": "search", "arguments": '{"q": "unterminated', "id": "call_fixed"}]},
    )
    first = await call(llm, request(ask(), mock))
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [("call_fixed", "search", '{"q": "unterminated')]
    second = await call(llm, request(with_results(ask(), first, {"search": "RESULT-OK"}), mock))
    assert second.text == "all good"


async def test_a_scripted_text_with_calls_streams_the_text_only(llm: LiteLLMGateway) -> None:
    mock = scripted({"text": "I will search first.", "tool_calls": [{"name": "search", "args": {"q": "x"}}]})
    shown: list[str] = []
    result = await call(llm, request(ask(), mock), shown)
    assert "".join(shown) == result.text == "I will search first."
    assert [c.name for c in result.tool_calls] == ["search"]


async def test_calls_stream_as_deltas_with_arguments_in_several_chunks(llm: LiteLLMGateway) -> None:
    """What litellm itself yields for a tool-call answer of the offline model."""
    lib = llm.lib()
    mock = scripted({"tool_calls": [{"name": "search", "args": {"q": "heat pumps in the cold"}}, {"name": "clock"}]})
    response = await lib.acompletion(
        model="mock/fast", messages=ask(), tools=TOOLS, stream=True, mock=mock, num_retries=0, max_retries=0
    )
    deltas = []
    finish = []
    async for chunk in response:
        if chunk.choices and chunk.choices[0].delta.tool_calls:
            deltas += chunk.choices[0].delta.tool_calls
        if chunk.choices and chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    first_of = {d.index: d for d in reversed(deltas)}
    assert [d.index for d in deltas].count(0) >= 3, "the arguments come in several pieces"
    assert first_of[0].id and first_of[0].function.name == "search"
    assert first_of[1].function.name == "clock"
    assert all(d.id is None and d.function.name is None for d in deltas if d is not first_of[d.index])
    assert "".join(d.function.arguments for d in deltas if d.index == 0) == '{"q":"heat pumps in the cold"}'
    assert finish == ["tool_calls"]


def test_scripted_reply_validation() -> None:
    with pytest.raises(ValidationError, match="needs 'text', 'json' or 'tool_calls'"):
        MockReply.model_validate({"call": 2})
    with pytest.raises(ValidationError, match="needs 'text', 'json' or 'tool_calls'"):
        MockReply.model_validate({"call": 2, "tool_calls": []})
    with pytest.raises(ValidationError, match="either 'text' or 'json'"):
        MockReply.model_validate({"text": "a", "json": {"a": 1}})
    with pytest.raises(ValidationError, match="name"):
        MockReply.model_validate({"tool_calls": [{"args": {"q": 1}}]})
    with pytest.raises(ValidationError, match="'args' or as raw 'arguments'"):
        MockReply.model_validate({"tool_calls": [{"name": "s", "args": {}, "arguments": "{}"}]})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        MockReply.model_validate({"turn": 0, "text": "x"})
    written = {"turn": 1, "text": "hi", "tool_calls": [{"name": "search", "args": {"q": "x"}}]}
    assert MockReply.model_validate(written).model_dump() == written
    assert MockReply.model_validate({"json": None}).model_dump() == {"json": None}


# --- deterministic ---------------------------------------------------------------------------------


async def test_named_tools_are_called_with_schema_valid_arguments(llm: LiteLLMGateway) -> None:
    result = await call(llm, request(ask()))
    assert result.text == ""
    assert [c.name for c in result.tool_calls] == ["search", "read_file"], "in the order the message names them"
    search, read = (json.loads(c.arguments) for c in result.tool_calls)
    jsonschema.validate(search, SearchArgs.model_json_schema())
    SearchArgs.model_validate(search)
    assert search["mode"] == "fast" and search["limit"] == 2 and search["filters"]["strict"] is False
    assert len(search["tags"]) == 1 and "page" not in search, "required properties only"
    assert read == {"path": "notes/heat.md"}, "a path the message mentions"
    assert len({c.id for c in result.tool_calls}) == 2


async def test_same_request_same_call_ids(llm: LiteLLMGateway) -> None:
    first = await call(llm, request(ask()))
    again = await call(LiteLLMGateway(), request(ask()))
    assert first.tool_calls == again.tool_calls
    other = await call(llm, request(ask(PROMPT + " Quickly.")))
    assert {c.id for c in other.tool_calls}.isdisjoint({c.id for c in first.tool_calls})


async def test_the_next_turn_reports_on_the_results(llm: LiteLLMGateway) -> None:
    first = await call(llm, request(ask()))
    outputs = {"search": "Heat pumps keep 2.1 COP at -15 C.\nSecond line.", "read_file": "# Notes\nbody"}
    second = await call(llm, request(with_results(ask(), first, outputs)))
    assert second.tool_calls == ()
    assert "search: Heat pumps keep 2.1 COP at -15 C." in second.text
    assert "read_file: # Notes" in second.text
    assert "Second line" not in second.text
    assert second.text == (await call(llm, request(with_results(ask(), first, outputs)))).text


async def test_a_structured_final_answer_after_the_results(llm: LiteLLMGateway) -> None:
    first = await call(llm, request(ask()))
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    messages = with_results(ask(), first, {"search": "a", "read_file": "b"})
    second = await call(llm, request(messages, response_format=response_format))
    assert second.tool_calls == () and isinstance(json.loads(second.text)["summary"], str)


async def test_tool_choice_none_required_and_named(llm: LiteLLMGateway) -> None:
    none = await call(llm, request(ask(), tool_choice="none"))
    assert none.tool_calls == () and none.text
    unnamed = ask("Tell me about tidal power.")
    assert (await call(llm, request(unnamed))).tool_calls == (), "no tool named, none forced: an answer"
    required = await call(llm, request(unnamed, tool_choice="required"))
    assert [c.name for c in required.tool_calls] == ["search"]
    jsonschema.validate(json.loads(required.tool_calls[0].arguments), SearchArgs.model_json_schema())
    forced = {"type": "function", "function": {"name": "write_report"}}
    named = await call(llm, request(ask(), tool_choice=forced))
    assert [(c.name, json.loads(c.arguments)) for c in named.tool_calls] == [
        ("write_report", {"q": "heat pumps in cold climates"})
    ]


async def test_one_call_per_turn_without_parallel_calls(llm: LiteLLMGateway) -> None:
    messages = ask()
    names = []
    for _ in range(3):
        result = await call(llm, request(messages, parallel_tool_calls=False))
        if not result.tool_calls:
            break
        assert len(result.tool_calls) == 1
        names.append(result.tool_calls[0].name)
        messages = with_results(messages, result, {"search": "hits", "read_file": "text"})
    assert names == ["search", "read_file"]
    assert "- search: hits" in result.text and "- read_file: text" in result.text


async def test_forecast_matches_the_reported_prompt_tokens(llm: LiteLLMGateway) -> None:
    first = await call(llm, request(ask()))
    assert llm.forecast(request(ask()))[0] == first.tokens_in
    messages = with_results(ask(), first, {"search": "hits", "read_file": "text"})
    second = await call(llm, request(messages))
    assert llm.forecast(request(messages))[0] == second.tokens_in
    assert llm.count_tokens(request(ask())) > llm.count_tokens(request(ask(), tools=None)), "tools cost prompt tokens"


# --- faults on tool-call turns ---------------------------------------------------------------------


async def test_faults_apply_to_tool_call_turns(llm: LiteLLMGateway) -> None:
    mock = scripted(
        faults=[
            {"on_call": 1, "error": "rate_limit", "retry_after": 3},
            {"on_call": 2, "error": "cut", "after_chunks": 2},
        ]
    )
    with pytest.raises(ModelError) as limited:
        await call(llm, request(ask(), mock))
    assert (limited.value.category, limited.value.retry_after) == ("rate_limit", 3.0)
    with pytest.raises(ModelError) as cut:
        await call(llm, request(ask(), mock))
    assert cut.value.category == "cut" and cut.value.partial == ""
    assert "stream broke after" in cut.value.message, "the call's arguments had begun to stream"
    third = await call(llm, request(ask(), mock))
    assert [c.name for c in third.tool_calls] == ["search", "read_file"]


async def test_a_stall_in_the_middle_of_the_arguments(llm: LiteLLMGateway) -> None:
    mock = scripted(faults=[{"on_call": 1, "error": "stall", "after_chunks": 3, "stall_s": 30}])
    started = time.monotonic()
    with pytest.raises(ModelError) as stalled:
        await llm.stream(request(ask(), mock), lambda _: None, first_token_s=1, idle_s=1)
    assert stalled.value.category == "stall" and "idle" in stalled.value.message
    assert time.monotonic() - started < 3


def test_a_cut_inside_a_call_is_placed_among_its_chunks() -> None:
    p = plan("mock/fast", ask(), {"faults": [{"on_call": 1, "error": "cut", "after_chunks": 2}]}, 1, 10, tools=TOOLS)
    pieces = p.pieces()
    assert p.chunks == [] and len(pieces) > 4 and all(delta is not None for _, delta in pieces)
    assert p.fault is not None and p.fault.after_chunks == 2 and p.finish_reason == "tool_calls"


def test_arguments_for_the_schema_shapes_tools_declare() -> None:
    schema = {
        "type": "object",
        "properties": {
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
            "kind": {"type": ["null", "string"], "const": "x"},
            "url": {"type": "string"},
            "merged": {"allOf": [{"$ref": "#/$defs/A"}, {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
            "short": {"type": "string", "maxLength": 4},
            "count": {"type": "number", "minimum": 10, "exclusiveMinimum": True},
            "two": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            "optional": {"type": "string"},
        },
        "required": ["maybe", "kind", "url", "merged", "short", "count", "two"],
        "$defs": {"A": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}},
    }
    prompt = "Check https://example.org/a?b=1 about tidal power"
    args = arguments_for(schema, prompt, "tidal power")
    assert args == {
        "maybe": 5,
        "kind": "x",
        "url": "https://example.org/a?b=1",
        "merged": {"a": "tidal power", "b": False},
        "short": "tida",
        "count": 10.5,
        "two": [1, 1],
    }
    jsonschema.Draft7Validator(schema).validate(args)
    assert arguments_for({"type": "object"}, prompt, "x") == {}


async def test_answers_queued_by_another_process_over_http(fake: FakeOpenAI) -> None:
    body = {"answers": [{"model": "m", "text": "hi", "tool_calls": [{"id": "c1", "name": "s", "arguments": "{}"}]}]}
    async with httpx.AsyncClient() as client:
        response = await client.post(fake.base_url.removesuffix("/v1") + "/_control/answers", json=body)
    assert response.status_code == 200
    assert fake.replies["m"] == [Answer("hi", (ToolCall("c1", "s", "{}"),))]
