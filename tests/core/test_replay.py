"""Replay is a wrapper: recorded model answers (by request hash) and tool results (by call id) are served
around the live call, which never learns about the record."""

from __future__ import annotations

from typing import Any

import pytest

from baton.core import events as ev
from baton.core.llm.types import LLMRequest
from baton.core.runner.call_plan import CallPlan, CallResult
from baton.core.runner.replay import REPLAYED_NOTE, ModelReplay, ToolReplay
from baton.core.runner.tools import ToolCall, ToolDone
from baton.core.spec.model import RetryPolicy, TimeoutPolicy
from baton.core.structured import OutputInvalid


def _plan(prompt: str) -> CallPlan:
    request = LLMRequest(model="test/cheap", alias="cheap", messages=[{"role": "user", "content": prompt}])
    return CallPlan(request, [], None, RetryPolicy(), TimeoutPolicy())


def _recorded(plan: CallPlan, text: str) -> ev.LLMCallFinished:
    return ev.LLMCallFinished(
        step="a",
        call_id="c0",
        model="test/cheap",
        alias="cheap",
        text=text,
        request_hash=plan.request.hash(),
        request=plan.request.record(),
        tokens_in=12,
        tokens_out=3,
        cost_usd=0.0042,
        latency_s=1.5,
    )


class Live:
    """The live call: counts what reaches it."""

    def __init__(self) -> None:
        self.plans: list[CallPlan] = []

    async def __call__(self, path: str, plan: CallPlan, validate: Any) -> CallResult:
        self.plans.append(plan)
        text = "live answer"
        return CallResult(text, validate(text), plan.request.alias, plan.request.model, False, None, attempts=1)


async def test_the_first_call_of_a_step_is_answered_from_the_record_at_no_cost() -> None:
    plan = _plan("Summarise tides")
    live = Live()
    replay = ModelReplay(live, {plan.request.hash(): _recorded(plan, "recorded answer")})
    result = await replay("a", plan, str)
    assert live.plans == [], "nothing was sent"
    assert (result.text, result.value, result.degraded) == ("recorded answer", "recorded answer", False)
    finished = result.finished
    assert finished is not None and finished.replayed and finished.cost_usd == 0.0 and finished.latency_s == 0.0
    assert (finished.tokens_in, finished.tokens_out, finished.request_hash) == (12, 3, plan.request.hash())
    assert result.cost_usd == 0.0 and result.tokens_in == 0, "a replayed answer adds nothing to the step's spend"
    assert REPLAYED_NOTE in result.notes and result.timeline == ["call ✓ (replayed)"]


async def test_only_the_first_call_of_a_step_may_be_replayed() -> None:
    plan = _plan("Summarise tides")
    live = Live()
    replay = ModelReplay(live, {plan.request.hash(): _recorded(plan, "recorded answer")})
    await replay("a", plan, str)
    again = await replay("a", plan, str)
    assert again.text == "live answer" and len(live.plans) == 1, "a re-run is a new question"


async def test_a_changed_request_or_an_answer_that_no_longer_validates_goes_live() -> None:
    plan = _plan("Summarise tides")
    record = {plan.request.hash(): _recorded(plan, "not json")}
    live = Live()
    assert (await ModelReplay(live, record)("a", _plan("Summarise waves"), str)).text == "live answer"

    def structured(text: str) -> Any:
        if not text.startswith("{"):
            raise OutputInvalid("reply is not JSON")
        return text

    live = Live()
    with pytest.raises(OutputInvalid):
        await ModelReplay(live, record)("a", plan, structured)
    assert len(live.plans) == 1, "the recorded answer was refused, so the call went out"


async def test_a_new_session_has_nothing_to_replay() -> None:
    live = Live()
    await ModelReplay(live, {})("a", _plan("x"), str)
    assert len(live.plans) == 1


class LiveTools:
    """The live tool invoker: counts what reaches it."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []

    async def invoke(self, call: ToolCall) -> ToolDone:
        self.calls.append(call)
        finished = ev.ToolCallFinished(step=call.path, idempotency_key=call.key, result={"ran": True})
        return ToolDone({"ran": True}, finished)


def _call(key: str) -> ToolCall:
    return ToolCall("t", "m:f", {"x": 1}, key, side_effects=True)


async def test_a_tool_call_with_a_recorded_result_is_not_run_again() -> None:
    done = ev.ToolCallFinished(step="t", tool="m:f", idempotency_key="s:t:1", ok=True, result={"ran": "before"})
    live = LiveTools()
    tools = ToolReplay(live, {"s:t:1": done}, {})
    result = await tools.invoke(_call("s:t:1"))
    assert result.result == {"ran": "before"} and result.finished is None and live.calls == []
    assert (await tools.invoke(_call("s:t:2"))).result == {"ran": True} and len(live.calls) == 1


async def test_an_intent_without_a_result_is_ambiguous_and_a_failed_result_is_not_a_result() -> None:
    intent = ev.ToolCallIntent(step="t", tool="m:f", idempotency_key="s:t:1", args={"x": 1})
    failed = ev.ToolCallFinished(step="t", tool="m:f", idempotency_key="s:t:1", ok=False, error="boom")
    tools = ToolReplay(LiveTools(), {"s:t:1": failed}, {"s:t:1": intent})
    assert tools.recorded("s:t:1") is None
    assert tools.ambiguous("s:t:1")
    assert not tools.ambiguous("s:t:2")
    done = ev.ToolCallFinished(step="t", tool="m:f", idempotency_key="s:t:1", ok=True, result=1)
    assert not ToolReplay(LiveTools(), {"s:t:1": done}, {"s:t:1": intent}).ambiguous("s:t:1")
