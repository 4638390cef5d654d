"""The gateway's lean streaming path: it closes a stream once litellm has handed over the final usage, so
litellm's end-of-stream logging (its success callbacks, a second rebuild of the answer, cost diagnostics)
never runs. What a run reads must not change: text, tool calls, usage and cost are those of a gateway that
drains every stream (`lean=False`), for the offline model and for a real provider over HTTP; litellm's
callback lists stay as they were however many calls go by; failures classify as before. A request is hashed
for tool-call ids only when a call came without one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from baton.core.llm.gateway import LiteLLMGateway
from baton.core.llm.tool_stream import ToolCallAssembler, derived_call_id
from baton.core.llm.types import LLMRequest, LLMResult, ModelError
from tests.fakes.harness import KEY_ENV, PRICES, canary, fake, gateway, register_prices
from tests.fakes.openai_answers import Answer, ToolCall
from tests.fakes.openai_server import FakeOpenAI, Fault

__all__ = ["canary", "fake", "gateway"]

CALLBACK_LISTS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "service_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the notes.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]
SEARCH = ToolCall("call_lean01", "search", json.dumps({"q": "grid storage"}))


def offline(prompt: str, **mock: Any) -> LLMRequest:
    behaviour = {"latency_s": 0, "tokens_per_s": 0, "min_tokens": 30, "max_tokens": 30, **mock}
    return LLMRequest(model="mock/fast", alias="m", messages=[{"role": "user", "content": prompt}], mock=behaviour)


def provider(server: FakeOpenAI, **changes: Any) -> LLMRequest:
    return LLMRequest(
        model="openai/fake-primary",
        alias="primary",
        messages=[{"role": "user", "content": "Write about grid storage"}],
        max_tokens=100,
        api_base=server.base_url,
        api_key_env=KEY_ENV,
        **changes,
    )


async def call(llm: LiteLLMGateway, request: LLMRequest) -> tuple[LLMResult, list[str]]:
    shown: list[str] = []
    result = await llm.stream(request, shown.append, first_token_s=5.0, idle_s=5.0)
    return result, shown


async def plain_gateway() -> LiteLLMGateway:
    llm = LiteLLMGateway(lean=False)
    await llm.warm_up()
    register_prices(llm)
    return llm


async def settled() -> None:
    """Every task the calls left behind (litellm's logging among them) has run; the fake server's
    connections stay open for the next call."""
    me = asyncio.current_task()
    while pending := [t for t in asyncio.all_tasks() if t is not me and not t.done() and not _serving(t)]:
        await asyncio.wait(pending, timeout=5.0)


def _serving(task: asyncio.Task[Any]) -> bool:
    return getattr(task.get_coro(), "__qualname__", "").startswith("FakeOpenAI.")


def callback_sizes(lib: Any) -> dict[str, int]:
    return {name: len(getattr(lib, name, None) or ()) for name in CALLBACK_LISTS}


async def test_the_gateway_is_lean_by_default(gateway: LiteLLMGateway) -> None:
    assert gateway.lean is True
    assert LiteLLMGateway(lean=False).lean is False


async def test_offline_text_usage_and_cost_match_a_drained_stream(gateway: LiteLLMGateway) -> None:
    request = offline("Write about heat pumps in cold climates")
    lean, lean_shown = await call(gateway, request)
    drained, drained_shown = await call(await plain_gateway(), request)
    assert lean.text == drained.text == "".join(lean_shown) == "".join(drained_shown) != ""
    assert (lean.tokens_in, lean.tokens_out) == (drained.tokens_in, drained.tokens_out)
    assert lean.tokens_in > 0 and lean.tokens_out == len(lean_shown)
    prices = gateway.unit_prices("mock/fast")
    assert prices is not None
    assert lean.cost_usd == pytest.approx(lean.tokens_in * prices[0] + lean.tokens_out * prices[1], rel=1e-12)
    assert lean.cost_usd == drained.cost_usd


async def test_a_provider_stream_keeps_its_reported_usage_and_price(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    fake.prompt_tokens = 40
    for round_ in range(3):  # a closed stream leaves the client able to make the next call
        result, shown = await call(gateway, provider(fake))
        assert result.text == "".join(fake.words) == "".join(shown)
        assert (result.tokens_in, result.tokens_out) == (40, len(fake.words))
        pin, pout, _ = PRICES["openai/fake-primary"]
        assert result.cost_usd == pytest.approx(40 * pin + len(fake.words) * pout, rel=1e-12)
        assert fake.count("fake-primary") == round_ + 1


async def test_provider_tool_calls_match_a_drained_stream(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    answer = Answer("Looking it up.", (SEARCH,), pieces=4, prompt_tokens=25)
    fake.answer("fake-primary", answer, answer)
    lean, _ = await call(gateway, provider(fake, tools=TOOLS))
    drained, _ = await call(await plain_gateway(), provider(fake, tools=TOOLS))
    assert lean.tool_calls == drained.tool_calls
    assert [(c.id, c.name, c.arguments) for c in lean.tool_calls] == [(SEARCH.id, SEARCH.name, SEARCH.arguments)]
    assert (lean.text, lean.tokens_in, lean.tokens_out, lean.cost_usd) == (
        drained.text,
        drained.tokens_in,
        drained.tokens_out,
        drained.cost_usd,
    )
    assert lean.tokens_in == 25


async def test_litellm_success_logging_runs_only_when_the_stream_is_drained(gateway: LiteLLMGateway) -> None:
    from litellm.integrations.custom_logger import CustomLogger

    class Counting(CustomLogger):
        def __init__(self) -> None:
            super().__init__()
            self.successes = 0

        async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
            self.successes += 1

    lib = gateway.lib()
    counting = Counting()
    lib.callbacks.append(counting)
    try:
        await call(gateway, offline("Write about tidal power"))
        await settled()
        assert counting.successes == 0, "the lean path never reaches litellm's success logging"
        await call(await plain_gateway(), offline("Write about tidal power"))
        await settled()
        assert counting.successes == 1, "a drained stream does: the logger would have seen the lean call"
    finally:  # litellm copies a logger into its other lists on the first call it sees
        for name in CALLBACK_LISTS:
            callbacks = getattr(lib, name, None) or []
            while counting in callbacks:
                callbacks.remove(counting)
    assert all(counting not in (getattr(lib, name, None) or []) for name in CALLBACK_LISTS)


async def test_no_litellm_callback_list_grows_across_calls(
    fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str
) -> None:
    lib = gateway.lib()
    await call(gateway, offline("Write about wind"))
    before = callback_sizes(lib)
    for i in range(5):
        await call(gateway, offline(f"Write about wind, part {i}"))
        await call(gateway, provider(fake))
        fake.fail("fake-primary", Fault("server_error"))
        with pytest.raises(ModelError):
            await call(gateway, provider(fake))
        with pytest.raises(ModelError):
            await call(gateway, offline(f"Fail on wind {i}", faults=[{"match": "Fail on", "error": "rate_limit"}]))
    await settled()
    assert callback_sizes(lib) == before


async def test_failures_still_classify(fake: FakeOpenAI, gateway: LiteLLMGateway, canary: str) -> None:
    faults = [{"match": "limit me", "error": "rate_limit", "retry_after": 3}]
    with pytest.raises(ModelError) as limited:
        await call(gateway, offline("limit me", faults=faults))
    assert (limited.value.category, limited.value.retry_after) == ("rate_limit", 3.0)
    cut = [{"match": "cut me", "error": "cut", "after_chunks": 5}]
    with pytest.raises(ModelError) as broken:
        await call(gateway, offline("cut me", faults=cut))
    assert broken.value.category == "cut" and broken.value.partial
    fake.fail("fake-primary", Fault("disconnect_after", after=3))
    with pytest.raises(ModelError) as dropped:
        await call(gateway, provider(fake))
    assert dropped.value.category == "cut"
    assert dropped.value.partial == "".join(fake.words[:3])
    result, _ = await call(gateway, provider(fake))
    assert result.text == "".join(fake.words), "the next call after a failure streams whole"


def test_the_request_is_hashed_only_for_a_call_without_an_id() -> None:
    hashed: list[str] = []

    def seed() -> str:
        hashed.append("request-1")
        return "request-1"

    def assembled(*deltas: dict[str, Any]) -> tuple[Any, ...]:
        calls = ToolCallAssembler()
        calls.add(list(deltas))
        return calls.finish(seed)

    named = {"index": 0, "id": "call_given", "function": {"name": "search", "arguments": "{}"}}
    assert [c.id for c in assembled(named)] == ["call_given"] and hashed == []
    assert assembled() == () and hashed == []
    anonymous = [{"index": i, "function": {"name": "search", "arguments": "{}"}} for i in (0, 1)]
    ids = [c.id for c in assembled(*anonymous)]
    assert hashed == ["request-1"], "hashed once for the whole answer"
    assert ids == [derived_call_id("request-1", 0), derived_call_id("request-1", 1)]
