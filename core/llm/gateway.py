"""The LLM gateway: the only code that imports litellm, and only when a call or a forecast needs it.

`import litellm` costs seconds, so `baton --help`, `validate` and every viewer stay clear of it. Before it
loads we pin it offline and quiet (local price map, no `.env` loading, no hub downloads). Every call
streams with litellm's own retries off: the runner's retry loop is the only one, so its timeline is true.
Tool calls arrive as deltas in OpenAI's chunk shape, whatever the provider; `ToolCallAssembler` puts them
back together.

With many sessions on one host, CPU in this module is what fills a core (`bench/gateway_cpu.py`), so a
call does only what a run uses. Once litellm's stream wrapper hands over the final usage, the gateway
closes the stream instead of asking for more: the provider's stream has already ended there, and all
that a further read does is litellm's end-of-stream bookkeeping for its own logging — a second rebuild
of the whole answer from its chunks on a worker thread, the success handlers with their standard logging
payload and cost calculation, a cache hook — a fifth to a quarter of a call's CPU. baton registers no litellm
callbacks and prices calls itself (`cost`), so none of that is read. `LiteLLMGateway(lean=False)` drains
every stream as before (the "before" of the benchmark). litellm's global settings stay the ones it needs
to be offline and quiet: `suppress_debug_info` (no banner text built on errors), `telemetry` off,
`set_verbose` off.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import threading
import time
from typing import Any

from baton.core.llm.tool_stream import ToolCallAssembler
from baton.core.llm.types import LLMRequest, LLMResult, ModelError, OnText
from baton.core.secrets import REDACTED, Redactor, default_redactor

OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "LITELLM_LOG": "ERROR",
}
DEFAULT_MAX_TOKENS = 1024
# Provider messages that echo a credential back ("Incorrect API key provided: …").
_KEY_ECHO = re.compile(r"(?i)((?:api[ _-]?key|token)(?: provided)?\s*[:=]\s*)([^\s.,;'\"]{6,})")
_PREFIX = re.compile(r"^(?:litellm\.)?[A-Za-z]*(?:Error|Exception)\s*(?::|-)\s*")
# Provider messages for a call sent with no key at all (litellm reports some as a 500 or a connection error).
_NO_KEY = re.compile(
    r"(?i)missing credentials|api[_ ]?key(?: client option)? must be set|no (?:api )?key is set|"
    r"missing [\w .-]{0,40}api[_ ]?key|api[_ ]?key (?:is )?(?:not (?:set|found|provided)|missing)"
)
_CANNOT_CONNECT = re.compile(r"(?i)cannot connect to host|connection refused|name or service not known")
# Environment variables that hold credentials (not a base URL or a region); AWS keys may live in a profile.
_KEY_VARIABLE = re.compile(r"(?:_API_KEY|_KEY|_TOKEN)$")
# Categories whose HTTP status is worth showing (429, 503, ...); the rest never reached a status.
_STATUS_SHOWN = frozenset(
    {"rate_limit", "server", "auth", "not_found", "bad_request", "context_window", "content_policy"}
)


class LiteLLMGateway:
    """`LLMClient` over litellm, for every provider and the offline `mock/...` model."""

    def __init__(self, redactor: Redactor | None = None, *, lean: bool = True) -> None:
        self._lib: Any = None
        self.lean = lean
        """Close a stream once its final usage arrived, skipping litellm's logging bookkeeping after it."""
        self._lock = threading.Lock()
        self._redact = redactor or default_redactor()
        self._price_cache: dict[str, tuple[float, float] | None] = {}

    # --- loading ---------------------------------------------------------------------------------

    def lib(self) -> Any:
        """litellm, loaded once, offline and quiet, with the offline provider registered."""
        if self._lib is None:
            with self._lock:
                if self._lib is None:
                    self._lib = _load()
        return self._lib

    async def warm_up(self) -> None:
        """Load litellm in a thread so the first call does not stall the event loop (once it is loaded,
        at once: a session's start does not wait for a thread)."""
        if self._lib is None:
            await asyncio.to_thread(self.lib)

    @property
    def offline(self) -> Any:
        """The registered offline provider (its per-model call counters drive scripted faults)."""
        self.lib()
        return _OFFLINE[0]

    # --- calls -----------------------------------------------------------------------------------

    async def stream(
        self,
        request: LLMRequest,
        on_text: OnText,
        *,
        first_token_s: float,
        idle_s: float,
        total_s: float | None = None,
    ) -> LLMResult:
        """Stream one call with watchdogs; raise `ModelError` classified for the resilience layer."""
        lib = self.lib()
        kwargs = self._kwargs(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        hard_deadline = started + total_s if total_s else None
        ttft: float | None = None
        parts: list[str] = []
        calls = ToolCallAssembler()
        usage: Any = None
        response: Any = None
        phase = "first"
        try:
            async with asyncio.timeout_at(_deadline(started + first_token_s, hard_deadline)) as watchdog:
                response = await lib.acompletion(**kwargs)
                async for chunk in response:
                    choices = chunk.choices
                    alive = phase == "idle"  # after the first token, any chunk shows the stream is alive
                    if choices:
                        delta = choices[0].delta
                        text = delta.content
                        if text:
                            parts.append(text)
                            on_text(text)
                            alive = True
                        if calls.add(getattr(delta, "tool_calls", None)):
                            alive = True  # a tool call's arguments stream in as text does
                        elif getattr(delta, "reasoning_content", None):
                            alive = True  # a reasoning model thinks aloud before it answers
                    if alive:
                        now = loop.time()
                        if ttft is None:
                            ttft = now - started
                            phase = "idle"
                        watchdog.reschedule(_deadline(now + idle_s, hard_deadline))
                    chunk_usage = getattr(chunk, "usage", None)
                    if chunk_usage is not None:
                        usage = chunk_usage
                        if self.lean and _usage_is_final(response):
                            await _close(response)
                            break
        except TimeoutError:
            await _close(response)
            text = "".join(parts)
            if hard_deadline is not None and loop.time() >= hard_deadline - 0.001:
                message = f"call exceeded its total time limit of {total_s:g}s"
            elif phase == "first":
                message = f"no first token within {first_token_s:g}s"
            else:
                message = f"stream idle for {idle_s:g}s after {len(parts)} chunks"
            raise ModelError("stall", message, partial=text, ttft_s=ttft) from None
        except ModelError:
            raise
        except asyncio.CancelledError:
            await _close(response)
            raise
        except Exception as exc:
            await _close(response)
            text = "".join(parts)
            streamed = len(text) + len(calls.text())
            raise self._classify(exc, text, ttft, kwargs.get("api_key"), request, streamed) from None
        text = "".join(parts)
        if _ended_early(response):
            raise ModelError(
                "cut",
                f"the stream ended without a finish reason after {len(parts)} chunks (truncated)",
                partial=text,
                ttft_s=ttft,
            )
        tool_calls = calls.finish(request.hash)
        tokens_in, tokens_out = self._usage(lib, request, usage, text + calls.text())
        return LLMResult(
            text=text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=self.cost(request.model, tokens_in, tokens_out),
            latency_s=loop.time() - started,
            ttft_s=ttft,
            model=request.model,
            tool_calls=tool_calls,
        )

    def _kwargs(self, request: LLMRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "num_retries": 0,
            "max_retries": 0,
        }
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if request.tools:
            kwargs["tools"] = request.tools
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                kwargs["parallel_tool_calls"] = request.parallel_tool_calls
        if request.api_base:
            kwargs["api_base"] = request.api_base
        if request.api_key_env:
            key = os.environ.get(request.api_key_env)
            if key:
                kwargs["api_key"] = key
        if request.model.startswith("mock/"):
            kwargs["mock"] = request.mock or {}
        kwargs.update(request.params)
        return kwargs

    def _usage(self, lib: Any, request: LLMRequest, usage: Any, text: str) -> tuple[int, int]:
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)
        prompt = self.count_tokens(request)
        completion = int(lib.token_counter(model=request.model, text=text)) if text else 0
        return prompt, completion

    # --- prices ----------------------------------------------------------------------------------

    def unit_prices(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per token from litellm's price map; None when unknown."""
        if model not in self._price_cache:
            lib = self.lib()
            try:
                cin, _ = lib.cost_per_token(model=model, prompt_tokens=1_000_000, completion_tokens=0)
                _, cout = lib.cost_per_token(model=model, prompt_tokens=0, completion_tokens=1_000_000)
                self._price_cache[model] = (float(cin) / 1e6, float(cout) / 1e6)
            except Exception:
                self._price_cache[model] = None
        return self._price_cache[model]

    def register_price(
        self,
        model: str,
        input_per_token: float,
        output_per_token: float,
        *,
        max_input_tokens: int | None = None,
        max_output_tokens: int | None = None,
    ) -> None:
        """Give litellm the price (and limits) of a model its price map lacks, e.g. a self-hosted one."""
        provider = model.split("/", 1)[0] if "/" in model else "openai"
        info: dict[str, Any] = {
            "input_cost_per_token": float(input_per_token),
            "output_cost_per_token": float(output_per_token),
            "litellm_provider": provider,
            "mode": "chat",
        }
        if max_input_tokens is not None:
            info["max_input_tokens"] = int(max_input_tokens)
        if max_output_tokens is not None:
            info["max_output_tokens"] = info["max_tokens"] = int(max_output_tokens)
        self.lib().register_model({model: info})
        self._price_cache.pop(model, None)

    def price_known(self, model: str) -> bool:
        """Does litellm know this model's price?"""
        return self.unit_prices(model) is not None

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """USD for a call, or None when the price is unknown."""
        prices = self.unit_prices(model)
        if prices is None:
            return None
        return tokens_in * prices[0] + tokens_out * prices[1]

    def count_tokens(self, request: LLMRequest) -> int:
        """Prompt tokens of a request (its messages and the tools it offers), by litellm's counter for that
        model."""
        lib = self.lib()
        return int(lib.token_counter(model=request.model, messages=request.messages, tools=request.tools or None))

    def forecast(self, request: LLMRequest) -> tuple[int, tuple[float, float] | None]:
        """Prompt tokens and the cost range: all of the prompt, plus 0 … max_tokens of output."""
        tokens = self.count_tokens(request)
        prices = self.unit_prices(request.model)
        if prices is None:
            return tokens, None
        max_out = request.max_tokens or DEFAULT_MAX_TOKENS
        low = tokens * prices[0]
        return tokens, (low, low + max_out * prices[1])

    def context_window(self, model: str) -> int | None:
        """Input token limit of a model, when litellm knows it."""
        try:
            info = self.lib().get_model_info(model)
        except Exception:
            return None
        value = info.get("max_input_tokens") if isinstance(info, dict) else None
        return int(value) if value else None

    # --- errors ----------------------------------------------------------------------------------

    def redact(self, text: str, key: str | None = None) -> str:
        """Remove credentials from provider text: the key sent, every credential in the environment now,
        and anything a provider echoes back as a key."""
        if key and len(key) >= 4:
            text = text.replace(key, REDACTED)
        self._redact.refresh()
        text = self._redact(text)
        return _KEY_ECHO.sub(lambda m: m.group(1) + REDACTED, text)

    def missing_keys(self, model: str, api_key_env: str | None = None, api_base: str | None = None) -> list[str]:
        """The credential variables a model needs that are not set (litellm knows which one each provider
        reads; `api_key_env` names another). Empty for the offline model and for providers that need none
        (a local Ollama) or may find theirs elsewhere (an AWS profile)."""
        if model.startswith("mock/"):
            return []
        if api_key_env:
            return [] if os.environ.get(api_key_env) else [api_key_env]
        try:
            found = self.lib().validate_environment(model=model, api_base=api_base)
        except Exception:
            return []
        missing = found.get("missing_keys") if isinstance(found, dict) else None
        return [str(v) for v in missing or () if _KEY_VARIABLE.search(str(v)) and not str(v).startswith("AWS_")]

    def _classify(
        self,
        exc: Exception,
        partial: str,
        ttft: float | None,
        key: str | None = None,
        request: LLMRequest | None = None,
        streamed: int | None = None,
    ) -> ModelError:
        """`partial` is the text streamed before the failure; `streamed` counts tool-call text too (a stream
        that broke inside a tool call's arguments was cut as surely as one that broke inside text)."""
        lib = self.lib()
        original: BaseException = exc
        mid_stream = isinstance(exc, lib.exceptions.MidStreamFallbackError)
        inner = getattr(exc, "original_exception", None)
        if mid_stream and isinstance(inner, BaseException):
            original = inner
        message = self.redact(_message(original), key)
        status = getattr(original, "status_code", None)
        retry_after = _retry_after(original)
        checks: list[tuple[type[BaseException], str]] = [
            (lib.ContextWindowExceededError, "context_window"),
            (lib.ContentPolicyViolationError, "content_policy"),
            (lib.AuthenticationError, "auth"),
            (lib.PermissionDeniedError, "auth"),
            (lib.NotFoundError, "not_found"),
            (lib.RateLimitError, "rate_limit"),
            (lib.BadRequestError, "bad_request"),
            (lib.Timeout, "timeout"),
            (lib.APIConnectionError, "connection"),
        ]
        category = "unknown"
        for cls, name in checks:
            if isinstance(original, cls):
                category = name
                break
        else:
            if isinstance(original, lib.InternalServerError) and "connection error" in message.lower():
                category = "connection"
            elif isinstance(original, lib.InternalServerError | lib.ServiceUnavailableError | lib.APIError):
                category = "server"
            elif mid_stream:
                category = "cut"
        streamed = len(partial) if streamed is None else streamed
        if not streamed and category in ("server", "connection", "unknown", "auth") and _NO_KEY.search(message):
            return ModelError("auth", self._no_key(message, request), partial=partial, ttft_s=ttft)
        if category == "server" and _CANNOT_CONNECT.search(message):
            category = "connection"
        if mid_stream and streamed and category in ("connection", "server", "unknown"):
            category = "cut"
        if mid_stream and streamed:
            message = f"stream broke after {streamed} chars: {message}"
        elif isinstance(status, int) and category in _STATUS_SHOWN:
            message = f"HTTP {status}: {message}"
        return ModelError(
            category,
            message,
            retry_after=retry_after,
            partial=partial,
            status=int(status) if isinstance(status, int) else None,
            ttft_s=ttft,
        )

    def _no_key(self, message: str, request: LLMRequest | None) -> str:
        """A call sent with no key: say which variable to set, whatever status litellm gave it."""
        if request is None:
            return f"missing API key: {message}"
        names = self.missing_keys(request.model, request.api_key_env, request.api_base)
        if not names:
            return f"missing API key for {request.model}: {message}"
        return (
            f"missing API key for {request.model}: set {' or '.join(names)} in the environment "
            f"(or point '{request.alias}' at another model)"
        )


_OFFLINE: list[Any] = []
_FROZEN: list[bool] = []


def _load() -> Any:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    setattr(litellm, "set_verbose", False)  # noqa: B010 - not exported in litellm's type hints
    litellm.drop_params = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from baton.core.llm.offline_provider import OfflineProvider, register_prices

    provider = OfflineProvider()
    _OFFLINE[:] = [provider]
    litellm.custom_provider_map = [
        *[p for p in (litellm.custom_provider_map or []) if p.get("provider") != "mock"],
        {"provider": "mock", "custom_handler": provider},
    ]
    _register_custom_providers(litellm)
    register_prices()
    if not _FROZEN:
        # litellm leaves ~300,000 long-lived objects behind; a full collection walking them all stalls the
        # event loop for ~0.2 s (mid-stream, mid-step). None of them is garbage: move them out of the
        # collector's sight once, so later collections only walk what the run itself creates.
        _FROZEN.append(True)
        gc.freeze()
    return litellm


def _register_custom_providers(litellm: Any) -> None:
    try:
        from litellm.utils import custom_llm_setup

        custom_llm_setup()  # type: ignore[no-untyped-call]
    except Exception:  # older/newer litellm set custom providers up lazily on first call
        pass


def _usage_is_final(response: Any) -> bool:
    """Has litellm's wrapper sent the usage it makes once the provider's stream has ended? Only its own
    end-of-stream logging comes after that."""
    return getattr(response, "sent_stream_usage", None) is True


def _deadline(candidate: float, hard: float | None) -> float:
    return candidate if hard is None else min(candidate, hard)


async def _close(response: Any) -> None:
    if response is None:
        return
    for name in ("aclose", "close"):
        closer = getattr(response, name, None)
        if closer is None:
            continue
        try:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            pass
        return


def _message(exc: BaseException) -> str:
    """The provider's own words, without litellm's stacked class-name prefixes."""
    text = str(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    text = text.split(" Original exception:", 1)[0]
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return (text.strip() or type(exc).__name__)[:2000]


def _ended_early(response: Any) -> bool:
    """A stream that stopped without the provider's finish reason was cut short, although litellm makes
    up a final `stop` chunk for it: accepting it would hand a truncated answer to the next step."""
    if response is None or not hasattr(response, "received_finish_reason"):
        return False
    return response.received_finish_reason is None and getattr(response, "intermittent_finish_reason", None) is None


def _retry_after(exc: BaseException) -> float | None:
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        millis = headers.get("retry-after-ms")
    except Exception:
        return None
    if value is None and millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return _http_date_delay(str(value))


def _http_date_delay(value: str) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
