"""The offline model as a litellm custom provider (`mock/<name>`), so the real litellm path runs.

Imported only by the gateway, after litellm is loaded. Streaming, usage and cost all go through litellm
(tool calls too: they stream as `tool_use` deltas, which litellm turns into OpenAI's `delta.tool_calls`):
prices for the bundled `mock/*` names are registered with `litellm.register_model`; any other `mock/...`
name has no price (cost shows as unknown).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import litellm
from litellm import exceptions as lx
from litellm.llms.custom_llm import CustomLLM

from baton.core.llm import offline

PRICES: dict[str, dict[str, Any]] = {
    # USD per token; roughly the shape of real cheap/strong models so demo costs look familiar.
    "mock/fast": {"input_cost_per_token": 0.15e-6, "output_cost_per_token": 0.60e-6, "max_input_tokens": 128_000},
    "mock/strong": {"input_cost_per_token": 3.0e-6, "output_cost_per_token": 15.0e-6, "max_input_tokens": 200_000},
    "mock/tiny": {"input_cost_per_token": 0.05e-6, "output_cost_per_token": 0.20e-6, "max_input_tokens": 8_000},
    "mock/long": {"input_cost_per_token": 1.0e-6, "output_cost_per_token": 4.0e-6, "max_input_tokens": 1_000_000},
}


def register_prices() -> None:
    """Tell litellm the prices and context windows of the bundled offline models."""
    litellm.register_model(
        {
            name: {**info, "max_tokens": 8192, "max_output_tokens": 8192, "litellm_provider": "mock", "mode": "chat"}
            for name, info in PRICES.items()
        }
    )


class OfflineProvider(CustomLLM):
    """Streams `offline.plan` replies with the configured timing and scripted faults."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        params: Mapping[str, Any] = kwargs.get("optional_params") or {}
        behaviour: Mapping[str, Any] = params.get("mock") or {}
        name = f"mock/{model}"
        self.calls[name] += 1
        # Counted the way the gateway forecasts (same counter, same model name), so a forecast's prompt
        # tokens are exactly what the offline model reports.
        prompt_tokens = litellm.token_counter(model=name, messages=messages, tools=params.get("tools") or None)
        reply = offline.plan(
            name,
            messages,
            behaviour,
            self.calls[name],
            prompt_tokens,
            response_format=params.get("response_format"),
            max_tokens=params.get("max_tokens"),
            tools=params.get("tools"),
            tool_choice=params.get("tool_choice"),
            parallel_tool_calls=params.get("parallel_tool_calls"),
        )
        fault = reply.fault
        if reply.latency_s:
            await asyncio.sleep(reply.latency_s)
        if fault is not None and fault.kind not in ("stall", "cut", "stall_first"):
            raise _error(fault, name, kwargs.get("api_key"))
        if fault is not None and fault.kind == "stall_first":
            await asyncio.sleep(fault.stall_s)
        start = time.monotonic()
        pieces = reply.pieces()
        for i, (piece, tool_use) in enumerate(pieces):
            if fault is not None and i == fault.after_chunks:
                if fault.kind == "stall":
                    await asyncio.sleep(fault.stall_s)
                elif fault.kind == "cut":
                    raise lx.APIConnectionError(
                        message=fault.message or "connection closed mid-stream", llm_provider="mock", model=name
                    )
            if reply.interval_s:
                delay = start + (i + 1) * reply.interval_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield {
                "text": piece,
                "tool_use": tool_use,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
            }
        yield {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": reply.finish_reason,
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": len(pieces),
                "total_tokens": reply.prompt_tokens + len(pieces),
            },
            "index": 0,
        }


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, request=httpx.Request("POST", "http://mock.invalid/v1"))


def _error(fault: offline.Fault, model: str, api_key: str | None) -> Exception:
    msg = fault.message
    kind = fault.kind
    if kind == "rate_limit":
        headers = {"retry-after": f"{fault.retry_after}"} if fault.retry_after is not None else {}
        exc: Exception = lx.RateLimitError(
            msg or "rate limit reached", llm_provider="mock", model=model, response=_response(429, headers)
        )
        exc.litellm_response_headers = headers  # type: ignore[attr-defined]
        return exc
    if kind == "server_error":
        return lx.InternalServerError(msg or "internal error", llm_provider="mock", model=model)
    if kind == "unavailable":
        return lx.ServiceUnavailableError(msg or "overloaded", llm_provider="mock", model=model)
    if kind == "auth":
        key = api_key or os.environ.get("MOCK_API_KEY", "")
        return lx.AuthenticationError(
            msg or f"Incorrect API key provided: {key}", llm_provider="mock", model=model, response=_response(401)
        )
    if kind == "bad_request":
        return lx.BadRequestError(msg or "bad request", model=model, llm_provider="mock", response=_response(400))
    if kind == "not_found":
        return lx.NotFoundError(msg or "model not found", model=model, llm_provider="mock", response=_response(404))
    if kind == "context_window":
        return lx.ContextWindowExceededError(
            msg or "maximum context length exceeded", model=model, llm_provider="mock", response=_response(400)
        )
    if kind == "content_policy":
        return lx.ContentPolicyViolationError(
            msg or "the request was rejected by the content policy",
            model=model,
            llm_provider="mock",
            response=_response(400),
        )
    if kind == "timeout":
        return lx.Timeout(msg or "request timed out", model=model, llm_provider="mock")
    return lx.InternalServerError(msg or kind, llm_provider="mock", model=model)
