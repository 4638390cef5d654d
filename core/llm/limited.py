"""Model calls under limits shared by every session of a runner host: at most N calls in flight on the host,
and per model a quota ("at most 4 concurrent calls to the strong model") across all its sessions.

A call waits for its turn before it is sent; the watchdogs (first token, idle, total) start only once it is
sent, so a call queued behind a quota is never taken for a stalled one. Everything else an `LLMClient` does
(forecasts, prices) passes straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from baton.core.llm.types import LLMClient, LLMRequest, LLMResult, OnText


@dataclass(frozen=True)
class CallLimits:
    """`max_calls`: calls in flight on the host (0: no limit); `quotas`: concurrent calls per model, by the
    name the workflow gives it (its alias, such as `strong`) or the provider's model string."""

    max_calls: int = 0
    quotas: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """As shown by `baton hosts`."""
        return {"max_calls": self.max_calls, "quotas": dict(self.quotas)}


class LimitedLLM:
    """An `LLMClient` that sends each call once the host's limits allow it."""

    def __init__(self, inner: LLMClient, limits: CallLimits) -> None:
        self.inner = inner
        self.limits = limits
        self._all = asyncio.Semaphore(limits.max_calls) if limits.max_calls > 0 else None
        self._per_model = {name: asyncio.Semaphore(n) for name, n in limits.quotas.items() if n > 0}
        self.in_flight = 0
        self.waiting = 0

    async def stream(
        self,
        request: LLMRequest,
        on_text: OnText,
        *,
        first_token_s: float,
        idle_s: float,
        total_s: float | None = None,
    ) -> LLMResult:
        """Wait for a free slot (the host's and the model's), then stream the call."""
        async with self._slot(request):
            return await self.inner.stream(
                request, on_text, first_token_s=first_token_s, idle_s=idle_s, total_s=total_s
            )

    @contextlib.asynccontextmanager
    async def _slot(self, request: LLMRequest) -> AsyncIterator[None]:
        gates = [g for g in (self._quota(request), self._all) if g is not None]
        async with contextlib.AsyncExitStack() as stack:
            self.waiting += 1
            try:
                for gate in gates:
                    await stack.enter_async_context(gate)
            finally:
                self.waiting -= 1
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1

    def _quota(self, request: LLMRequest) -> asyncio.Semaphore | None:
        return self._per_model.get(request.alias) or self._per_model.get(request.model)

    def forecast(self, request: LLMRequest) -> tuple[int, tuple[float, float] | None]:
        """The inner client's forecast."""
        return self.inner.forecast(request)

    def price_known(self, model: str) -> bool:
        """The inner client's answer."""
        return self.inner.price_known(model)

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """The inner client's price."""
        return self.inner.cost(model, tokens_in, tokens_out)

    def context_window(self, model: str) -> int | None:
        """The inner client's limit."""
        return self.inner.context_window(model)

    async def warm_up(self) -> None:
        """Warm the inner client."""
        await self.inner.warm_up()
