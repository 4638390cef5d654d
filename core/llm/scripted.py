"""A model whose answers are a Python function: the `LLMClient` seam without a provider, litellm or network.

For runner tests and for embedding: `ScriptedLLM(lambda request: "an answer")`. The function receives
the request exactly as the runner built it (model, alias, messages, tools) and returns the text, a `Reply`
(text and tool calls, or text streamed before a failure), or raises `ModelError` to fail the call the way
a provider would. It may be async. Streaming is emulated in chunks so live text, redaction and watchdog
paths run; usage is estimated from characters (tool calls' names and arguments included); prices are
whatever the test gives (a model without one has no price).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.core.llm.types import LLMRequest, LLMResult, ModelError, ModelToolCall, OnText

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Reply:
    """An answer: `text`, the tools the model calls, or text streamed before it fails with `error` (a cut
    or stalled stream)."""

    text: str = ""
    error: ModelError | None = None
    tool_calls: tuple[ModelToolCall, ...] = ()


Script = Callable[[LLMRequest], "str | Reply | Awaitable[str | Reply]"]


def prompt_of(request: LLMRequest) -> str:
    """The last user message of a request (what a script usually looks at)."""
    for message in reversed(request.messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


@dataclass
class ScriptedLLM:
    """An `LLMClient` answering from `script`. `prices` maps a model to USD per (input, output) token;
    `windows` to its context window. Every request is kept in `requests`, in order."""

    script: Script
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    windows: Mapping[str, int] = field(default_factory=dict)
    chunk_chars: int = 16
    requests: list[LLMRequest] = field(default_factory=list)

    async def stream(
        self,
        request: LLMRequest,
        on_text: OnText,
        *,
        first_token_s: float,
        idle_s: float,
        total_s: float | None = None,
    ) -> LLMResult:
        """Answer from the script, streaming its text in chunks."""
        self.requests.append(request)
        answer: Any = self.script(request)
        if inspect.isawaitable(answer):
            answer = await answer
        reply = answer if isinstance(answer, Reply) else Reply(str(answer))
        for start in range(0, len(reply.text), self.chunk_chars):
            on_text(reply.text[start : start + self.chunk_chars])
            await asyncio.sleep(0)
        tokens_in = self.count_tokens(request)
        if reply.error is not None:
            error = reply.error
            error.partial = error.partial or reply.text
            raise error
        tokens_out = _tokens(reply.text + _calls_text(reply.tool_calls))
        return LLMResult(
            text=reply.text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=self.cost(request.model, tokens_in, tokens_out),
            latency_s=0.0,
            ttft_s=0.0,
            model=request.model,
            tool_calls=tuple(reply.tool_calls),
        )

    def count_tokens(self, request: LLMRequest) -> int:
        """Prompt tokens, estimated from characters (the tool calls in earlier answers included)."""
        return sum(_tokens(_message_text(m)) for m in request.messages)

    def forecast(self, request: LLMRequest) -> tuple[int, tuple[float, float] | None]:
        """(prompt tokens, (low, high) USD); no range without a price."""
        tokens = self.count_tokens(request)
        prices = self.prices.get(request.model)
        if prices is None:
            return tokens, None
        low = tokens * prices[0]
        return tokens, (low, low + (request.max_tokens or 1024) * prices[1])

    def price_known(self, model: str) -> bool:
        """Does the model have a price?"""
        return model in self.prices

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """USD for tokens on a model; None when it has no price."""
        prices = self.prices.get(model)
        return None if prices is None else tokens_in * prices[0] + tokens_out * prices[1]

    def context_window(self, model: str) -> int | None:
        """The window the test gave the model, if any."""
        return self.windows.get(model)

    async def warm_up(self) -> None:
        """Nothing to load."""


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    text = "" if content is None else str(content)
    calls = message.get("tool_calls") or ()
    return text + "".join(_entry_text(c) for c in calls if isinstance(c, Mapping))


def _entry_text(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    return str(function.get("name", "")) + str(function.get("arguments", "")) if isinstance(function, Mapping) else ""


def _calls_text(calls: tuple[ModelToolCall, ...]) -> str:
    return "".join(call.name + call.arguments for call in calls)


def _tokens(text: str) -> int:
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN) if text else 0
