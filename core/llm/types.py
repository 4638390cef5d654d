"""What the runner asks of a model, what it gets back, and how failures are classified.

`LLMClient` is the seam: the litellm gateway implements it for every provider and the offline model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Failure categories and what the resilience layer does with them.
RETRYABLE = frozenset({"rate_limit", "server", "connection", "timeout", "stall", "cut"})
NO_RETRY = frozenset({"auth", "bad_request", "not_found", "unknown"})
TO_HUMAN = frozenset({"content_policy", "context_window"})
CATEGORIES = RETRYABLE | NO_RETRY | TO_HUMAN


@dataclass(frozen=True)
class ModelToolCall:
    """A tool call in a model's answer: the provider's call id, the tool's name, the arguments as the JSON
    text the model wrote (parsed and checked by the runner, which tells the model when they are not valid)."""

    id: str
    name: str
    arguments: str

    def record(self) -> dict[str, str]:
        """As recorded in `LLMCallFinished.tool_calls`."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> ModelToolCall:
        """Back from its record."""
        return cls(str(data.get("id", "")), str(data.get("name", "")), str(data.get("arguments", "")))

    def message(self) -> dict[str, Any]:
        """As an entry of an assistant message's `tool_calls` (OpenAI's shape, which litellm speaks)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class LLMRequest:
    """One model call. `model` is the provider model string; `alias` what the workflow called it."""

    model: str
    alias: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    response_format: dict[str, Any] | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    mock: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    """Tools the model may call, in OpenAI's function-tool shape."""
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    def record(self) -> dict[str, Any]:
        """The request as recorded in the session: everything that shapes the answer, no credentials."""
        out: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.response_format is not None:
            out["response_format"] = self.response_format
        if self.params:
            out["params"] = self.params
        if self.tools:
            out["tools"] = self.tools
        if self.tool_choice is not None:
            out["tool_choice"] = self.tool_choice
        if self.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = self.parallel_tool_calls
        return out

    def hash(self) -> str:
        """Stable hash of `record()`: the key a fork or a resume replays recorded answers by."""
        blob = json.dumps(self.record(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    def with_model(self, model: str, alias: str, **changes: Any) -> LLMRequest:
        """The same request sent to another model (fallbacks, retry on another model)."""
        values = {**self.__dict__, "model": model, "alias": alias, **changes}
        return LLMRequest(**values)


@dataclass(frozen=True)
class LLMResult:
    """A finished call. `cost_usd` is None when the model has no known price (never a silent $0)."""

    text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    latency_s: float
    ttft_s: float | None
    model: str
    tool_calls: tuple[ModelToolCall, ...] = ()
    """The tools the model called in this answer (in the order it gave them)."""


class ModelError(Exception):
    """A classified model failure. `message` is already redacted; `partial` is text streamed before it."""

    def __init__(
        self,
        category: str,
        message: str,
        *,
        retry_after: float | None = None,
        partial: str = "",
        status: int | None = None,
        ttft_s: float | None = None,
        tokens_in: int = 0,
        cost_usd: float | None = 0.0,
    ) -> None:
        super().__init__(message)
        self.category = category if category in CATEGORIES else "unknown"
        self.message = message
        self.retry_after = retry_after
        self.partial = partial
        self.status = status
        self.ttft_s = ttft_s
        self.tokens_in = tokens_in
        self.cost_usd = cost_usd

    @property
    def retryable(self) -> bool:
        """Transient: worth another attempt on the same model."""
        return self.category in RETRYABLE

    def __str__(self) -> str:
        return f"{self.category}: {self.message}"


OnText = Callable[[str], None]

_HTTP_RE = re.compile(r"^HTTP (\d{3})\b")
_SECONDS_RE = re.compile(r"(\d+(?:\.\d+)?)s\b")
_SHORT = {
    "stall": "timeout",
    "cut": "stream cut",
    "connection": "connection error",
    "invalid_output": "invalid output",
    "context_window": "context window",
    "content_policy": "content policy",
    "breaker_open": "breaker open",
    "rate_limit": "429",
}


def short_error(category: str, message: str) -> str:
    """A failed attempt in a few characters, for timelines: `429`, `503`, `timeout 30s`, `stream cut`."""
    status = _HTTP_RE.match(message or "")
    if status:
        return status.group(1)
    if category in ("stall", "timeout"):
        seconds = _SECONDS_RE.search(message or "")
        return f"timeout {seconds.group(1)}s" if seconds else "timeout"
    return _SHORT.get(category, (category or "error").replace("_", " "))


class LLMClient(Protocol):
    """The gateway seam the runner calls."""

    async def stream(
        self,
        request: LLMRequest,
        on_text: OnText,
        *,
        first_token_s: float,
        idle_s: float,
        total_s: float | None = None,
    ) -> LLMResult:
        """Stream a call; text pieces go to `on_text`; watchdogs raise `ModelError('stall')`."""
        ...

    def forecast(self, request: LLMRequest) -> tuple[int, tuple[float, float] | None]:
        """(prompt tokens, (low, high) USD) before sending; the range is None when the price is unknown."""
        ...

    def price_known(self, model: str) -> bool:
        """Does the model have a price?"""
        ...

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """USD for tokens on a model; None when its price is unknown."""
        ...

    def context_window(self, model: str) -> int | None:
        """The model's input token limit, when known."""
        ...

    async def warm_up(self) -> None:
        """Load the provider library ahead of the first call."""
        ...
