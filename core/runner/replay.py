"""Serving recorded answers: wrappers around the live model call and the live tool invoker.

A resumed or forked session must not pay twice for what its record already holds. The wrappers
intercept before any layer runs (no breaker, no budget, no event of a call being sent): a model request
whose hash was answered before, a tool call whose id (idempotency key) has a recorded result. Replayed
model answers cost $0 and are recorded with `replayed=True`. Only a step's first model call may be
served from the record — later calls of the step (a re-run after a rejection, another model) are new
questions — so `ModelReplay` is made per step and disarms after its first call.
"""

from __future__ import annotations

from collections.abc import Mapping

from baton.core import events as ev
from baton.core.llm.types import ModelToolCall
from baton.core.runner.call_plan import Caller, CallPlan, CallResult, Validator, new_call_id
from baton.core.runner.tools import ToolCall, ToolDone, ToolInvoker
from baton.core.structured import OutputInvalid

REPLAYED_NOTE = "answer replayed from the session record ($0)"


class ModelReplay:
    """A step's model caller that answers its first request from the record when it can."""

    __slots__ = ("_armed", "_inner", "_record")

    def __init__(self, inner: Caller, record: Mapping[str, ev.LLMCallFinished]) -> None:
        self._inner = inner
        self._record = record
        self._armed = bool(record)

    async def __call__(self, path: str, plan: CallPlan, validate: Validator) -> CallResult:
        """The recorded answer to the step's first request (if it still validates), else the live call."""
        if self._armed:
            self._armed = False
            recorded = self._record.get(plan.request.hash())
            if recorded is not None:
                calls = tuple(ModelToolCall.from_record(c) for c in recorded.tool_calls) if plan.turn else ()
                try:
                    value = None if calls else validate(recorded.text)
                except OutputInvalid:
                    pass
                else:
                    return self._replayed(path, plan, recorded, value, calls)
        return await self._inner(path, plan, validate)

    def _replayed(
        self,
        path: str,
        plan: CallPlan,
        recorded: ev.LLMCallFinished,
        value: object,
        calls: tuple[ModelToolCall, ...],
    ) -> CallResult:
        alias = plan.request.alias
        finished = ev.LLMCallFinished(
            step=path,
            call_id=new_call_id(),
            model=recorded.model,
            alias=alias,
            attempt=1,
            status="ok",
            text=recorded.text,
            request_hash=recorded.request_hash,
            request=recorded.request,
            tokens_in=recorded.tokens_in,
            tokens_out=recorded.tokens_out,
            cost_usd=0.0,
            latency_s=0.0,
            replayed=True,
            tool_calls=list(recorded.tool_calls),
            turn=plan.turn,
        )
        result = CallResult(recorded.text, value, alias, recorded.model, False, finished, attempts=1)
        result.tool_calls = calls
        result.notes.append(REPLAYED_NOTE)
        result.note_outcome("✓ (replayed)")
        return result


class ToolReplay:
    """A tool invoker that returns a call's recorded result instead of running the tool again."""

    __slots__ = ("_inner", "_intents", "_results")

    def __init__(
        self,
        inner: ToolInvoker,
        results: Mapping[str, ev.ToolCallFinished],
        intents: Mapping[str, ev.ToolCallIntent],
    ) -> None:
        self._inner = inner
        self._results = results
        self._intents = intents

    def recorded(self, key: str) -> ev.ToolCallFinished | None:
        """The successful result recorded for this call id, if any."""
        done = self._results.get(key)
        return done if done is not None and done.ok else None

    def ambiguous(self, key: str) -> bool:
        """An intent was recorded and no result: the tool may or may not have run."""
        return key in self._intents and self.recorded(key) is None

    async def invoke(self, call: ToolCall) -> ToolDone:
        """The recorded result (no new event), else the live call."""
        done = self.recorded(call.key)
        if done is not None:
            return ToolDone(done.result, None)
        return await self._inner.invoke(call)
