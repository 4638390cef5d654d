"""Tool calls through the gateway over litellm's real OpenAI path, against the fake OpenAI-compatible server:
the request carries the tools, the streamed deltas assemble into the calls the model made (arguments split
over chunks, several indexes, interleaved, after text), a call-only answer is a whole answer, tool-call
deltas keep the watchdogs quiet, and a conversation with tool calls and results goes out unchanged."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.tool_stream import ToolCallAssembler
from baton.core.llm.types import LLMRequest, ModelError, ModelToolCall
from tests.fakes.harness import KEY_ENV, PRICES, canary, fake, gateway
from tests.fakes.openai_server import Answer, FakeOpenAI, Fault, ToolCall

__all__ = ["canary", "fake", "gateway"]

MODEL = "fake-primary"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the notes.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    },
]
SEARCH = ToolCall("call_abc123", "search", json.dumps({"q": "heat pumps in cold climates", "limit": 5}))
READ_PATH = "notes/heat pumps.md"
READ = ToolCall("call_def456", "read_file", json.dumps({"path": READ_PATH}))
SEARCH_MESSAGE = ModelToolCall(SEARCH.id, SEARCH.name, SEARCH.arguments).message()


def request(server: FakeOpenAI, messages: list[dict[str, Any]] | None = None, **changes: Any) -> LLMRequest:
    return LLMRequest(
        model=f"openai/{MODEL}",
        alias="primary",
        messages=messages or [{"role": "user", "content": "Find what the notes say about heat pumps."}],
        max_tokens=200,
        api_base=server.base_url,
        api_key_env=KEY_ENV,
        **{"tools": TOOLS, **changes},
    )


def as_calls(*calls: ToolCall) -> tuple[ModelToolCall, ...]:
    return tuple(ModelToolCall(c.id, c.name, c.arguments) for c in calls)


async def test_two_calls_with_split_arguments_assemble_in_order(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.answer(MODEL, Answer(tool_calls=(SEARCH, READ), pieces=4, prompt_tokens=30))
    shown: list[str] = []
    result = await gateway.stream(
        request(fake, tool_choice="auto", parallel_tool_calls=True), shown.append, first_token_s=5, idle_s=5
    )
    assert result.tool_calls == as_calls(SEARCH, READ)
    assert result.text == "" and shown == [], "argument text is not answer text"
    chunks = len(Answer(tool_calls=(SEARCH, READ), pieces=4).deltas())
    assert chunks == 2 * (1 + 4), "each call: the id and name, then four pieces of its arguments"
    assert (result.tokens_in, result.tokens_out) == (30, chunks)
    pin, pout, _ = PRICES[f"openai/{MODEL}"]
    assert result.cost_usd == pytest.approx(30 * pin + chunks * pout, rel=1e-12)
    seen = fake.seen[0]
    assert fake.count(MODEL) == 1
    assert seen.tools == TOOLS
    assert (seen.tool_choice, seen.parallel_tool_calls) == ("auto", True)


async def test_interleaved_indexes_after_text(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    text = "Let me look that up in two places."
    fake.answer(MODEL, Answer(text, (SEARCH, READ), pieces=3, interleave=True))
    deltas = Answer(text, (SEARCH, READ), pieces=3, interleave=True).deltas()
    indexes = [d["tool_calls"][0]["index"] for d in deltas if "tool_calls" in d]
    assert indexes == [0, 1, 0, 1, 0, 1, 0, 1], "the fake really interleaves the two calls"
    shown: list[str] = []
    result = await gateway.stream(request(fake), shown.append, first_token_s=5, idle_s=5)
    assert result.text == text == "".join(shown)
    assert result.tool_calls == as_calls(SEARCH, READ)
    assert [json.loads(c.arguments) for c in result.tool_calls] == [json.loads(SEARCH.arguments), {"path": READ_PATH}]


async def test_three_calls_and_one_with_no_arguments(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    now = ToolCall("call_now", "clock", "{}")
    fake.reply_tools(MODEL, READ, now, SEARCH, interleave=True)
    result = await gateway.stream(request(fake), lambda _: None, first_token_s=5, idle_s=5)
    assert [c.name for c in result.tool_calls] == ["read_file", "clock", "search"]
    assert result.tool_calls == as_calls(READ, now, SEARCH)


async def test_tools_are_not_sent_when_the_request_has_none(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    plain = request(fake, tools=None, tool_choice="auto", parallel_tool_calls=False)
    result = await gateway.stream(plain, lambda _: None, first_token_s=5, idle_s=5)
    assert result.text == "".join(fake.words) and result.tool_calls == ()
    assert (fake.seen[0].tools, fake.seen[0].tool_choice, fake.seen[0].parallel_tool_calls) == (None, None, None)


async def test_tool_choice_and_parallel_calls_reach_the_provider(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    forced = {"type": "function", "function": {"name": "read_file"}}
    fake.reply_tools(MODEL, READ)
    result = await gateway.stream(
        request(fake, tool_choice=forced, parallel_tool_calls=False), lambda _: None, first_token_s=5, idle_s=5
    )
    assert result.tool_calls == as_calls(READ)
    assert (fake.seen[0].tool_choice, fake.seen[0].parallel_tool_calls) == (forced, False)


async def test_a_conversation_with_calls_and_results_goes_out_unchanged(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.reply_tools(MODEL, SEARCH, READ)
    first = request(fake)
    turn1 = await gateway.stream(first, lambda _: None, first_token_s=5, idle_s=5)
    messages = [
        *first.messages,
        {"role": "assistant", "content": None, "tool_calls": [c.message() for c in turn1.tool_calls]},
        *({"role": "tool", "tool_call_id": c.id, "content": f"{c.name} found 3 notes"} for c in turn1.tool_calls),
    ]
    sent = copy.deepcopy(messages)
    fake.reply(MODEL, "Heat pumps work in the cold.")
    turn2 = await gateway.stream(request(fake, messages), lambda _: None, first_token_s=5, idle_s=5)
    assert turn2.text == "Heat pumps work in the cold." and turn2.tool_calls == ()
    assert messages == sent, "the gateway leaves the caller's messages alone"
    # litellm leaves out an assistant message's `content: null` on the wire (OpenAI reads both the same)
    assert fake.seen[1].messages == [{k: v for k, v in m.items() if v is not None} for m in sent]
    assert fake.seen[1].messages[1]["tool_calls"] == [c.message() for c in turn1.tool_calls]
    assert fake.count(MODEL) == 2


async def test_tool_call_deltas_keep_the_watchdogs_quiet(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """No text at all, a delta every 0.15 s for ~2 s, watchdogs at 0.5 s: only tool-call activity keeps it alive."""
    fake.chunk_interval_s = 0.15
    fake.answer(MODEL, Answer(tool_calls=(SEARCH,), pieces=12))
    started = time.monotonic()
    result = await gateway.stream(request(fake), lambda _: None, first_token_s=0.5, idle_s=0.5)
    assert time.monotonic() - started > 1.5
    assert result.tool_calls == as_calls(SEARCH)
    assert result.ttft_s is not None and result.ttft_s < 0.5


async def test_a_stall_inside_a_tool_call_is_still_a_stall(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.fail(MODEL, Fault("stall_after", after=3, stall_s=30))
    fake.answer(MODEL, Answer(tool_calls=(SEARCH,), pieces=6))
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        await gateway.stream(request(fake), lambda _: None, first_token_s=1, idle_s=1)
    assert caught.value.category == "stall"
    assert "idle" in caught.value.message
    assert time.monotonic() - started < 2 + 1


async def test_a_tool_call_stream_cut_short_is_cut(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    fake.fail(MODEL, Fault("truncate_after", after=3))
    fake.answer(MODEL, Answer(tool_calls=(SEARCH,), pieces=6))
    with pytest.raises(ModelError) as caught:
        await gateway.stream(request(fake), lambda _: None, first_token_s=5, idle_s=5)
    assert caught.value.category == "cut"


async def test_a_responder_answers_each_request_from_what_it_holds(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    """A conversation's turn decides the answer, so a resumed conversation gets the same one."""
    fake.responder = lambda seen: (
        Answer("done") if any(m.get("role") == "tool" for m in seen.messages) else Answer(tool_calls=(SEARCH,))
    )
    first = await gateway.stream(request(fake), lambda _: None, first_token_s=5, idle_s=5)
    assert first.tool_calls == as_calls(SEARCH)
    messages = [
        *request(fake).messages,
        {"role": "assistant", "content": None, "tool_calls": [SEARCH_MESSAGE]},
        {"role": "tool", "tool_call_id": SEARCH.id, "content": "3 notes"},
    ]
    second = await gateway.stream(request(fake, messages), lambda _: None, first_token_s=5, idle_s=5)
    assert (second.text, second.tool_calls) == ("done", ())


# --- assembly of provider quirks (pure) ------------------------------------------------------------


def delta(index: int | None, call_id: str | None = None, name: str | None = None, args: str = "") -> dict[str, Any]:
    return {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def test_assembly_by_index_in_any_order() -> None:
    calls = ToolCallAssembler()
    assert not calls.add(None) and not calls.add([])
    assert calls.add([delta(1, "b", "read", '{"pa')])
    calls.add([delta(0, "a", "search", '{"q"'), delta(1, args='th":1}')])
    calls.add([delta(0, args=':"x"}')])
    assert calls.finish("seed") == (ModelToolCall("a", "search", '{"q":"x"}'), ModelToolCall("b", "read", '{"path":1}'))
    assert calls.text() == 'read{"path":1}search{"q":"x"}'


def test_assembly_when_ids_and_names_repeat_or_the_index_is_missing() -> None:
    repeated = ToolCallAssembler()
    repeated.add([delta(0, "a", "search", '{"q":')])
    repeated.add([delta(0, "a", "search", '"x"}')])
    assert repeated.finish("s") == (ModelToolCall("a", "search", '{"q":"x"}'),)
    no_index = ToolCallAssembler()
    no_index.add([delta(None, "a", "search", '{"q":')])
    no_index.add([delta(None, args='"x"}')])
    no_index.add([delta(None, "b", "read", "{}")])
    assert no_index.finish("s") == (ModelToolCall("a", "search", '{"q":"x"}'), ModelToolCall("b", "read", "{}"))


def test_every_call_at_index_zero_with_distinct_ids_stays_apart() -> None:
    calls = ToolCallAssembler()
    calls.add([delta(0, "a", "search", '{"q":"x"}')])
    calls.add([delta(0, "b", "search", '{"q":"y"}')])
    calls.add([delta(0, args="")])
    assert [c.id for c in calls.finish("s")] == ["a", "b"]


def test_a_call_without_an_id_gets_one_from_the_request() -> None:
    def assembled(seed: str) -> tuple[ModelToolCall, ...]:
        calls = ToolCallAssembler()
        calls.add([delta(0, None, "search", "{}"), delta(1, None, "read", "{}")])
        return calls.finish(seed)

    first = assembled("request-1")
    assert first == assembled("request-1")
    assert [c.id for c in first] != [c.id for c in assembled("request-2")]
    assert len({c.id for c in first}) == 2
    assert all(c.id.startswith("call_") and len(c.id) == len("call_") + 12 for c in first)
