"""One model call of a step, through every automatic layer of handling.

Per attempt: circuit breaker → budget forecast (the call is not sent if it could pass a cap) → stream
with first-token and idle watchdogs → validate the output. Transient failures retry with backoff and
full jitter (Retry-After honoured); then the fallback chain (other aliases, then a static result, marked
degraded). What is left is a `StepFailure` for the step to escalate to a person. Every attempt, wait,
fallback and breaker change is an event.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.core import events as ev
from baton.core.llm.types import LLMRequest, LLMResult, ModelError, short_error
from baton.core.runner.context import StepFailure
from baton.core.runner.guards import Breaker, BudgetVerdict, backoff, scopes_for
from baton.core.secrets import StreamRedactor
from baton.core.spec.model import RetryPolicy, TimeoutPolicy
from baton.core.state import estimate_tokens
from baton.core.structured import OutputInvalid
from baton.core.timeline import Timeline

if TYPE_CHECKING:
    from baton.core.runner.runtime import Runtime

# Failures no other model and no static result can fix: a person decides.
HUMAN_ONLY = frozenset({"content_policy"})
# Failures a static result must not paper over (the request itself is the problem).
NO_STATIC = frozenset({"content_policy", "context_window"})


class BudgetBlocked(Exception):
    """The next call could pass a budget: it was not sent."""

    def __init__(self, verdict: BudgetVerdict, alias: str) -> None:
        super().__init__(f"budget {verdict.scope}")
        self.verdict = verdict
        self.alias = alias


@dataclass(frozen=True)
class CallPlan:
    """How to call: the request for the first alias, the chain after it, retries and watchdogs."""

    request: LLMRequest
    fallback: list[str]
    fallback_static: Any
    retry: RetryPolicy
    timeout: TimeoutPolicy
    replay: bool = True
    budget_override: bool = False


@dataclass
class CallResult(Timeline):
    """The accepted answer of a step's call, with totals over every attempt."""

    text: str
    value: Any
    alias: str
    model: str
    degraded: bool
    finished: ev.LLMCallFinished | None
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    static: bool = False
    notes: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    pending_entry: bool = False


Validator = Callable[[str], Any]


def new_call_id() -> str:
    """A short unique id for one attempt."""
    return "c" + secrets.token_hex(5)


async def call(rt: Runtime, path: str, plan: CallPlan, validate: Validator) -> CallResult:
    """Run `plan` for the step at `path` until an answer is accepted or every layer is exhausted."""
    chain = [plan.request.alias, *plan.fallback]
    totals = CallResult("", None, plan.request.alias, plan.request.model, False, None)
    last: ModelError | None = None
    started = rt.clock.now()
    position = 0
    while position < len(chain):
        alias = chain[position]
        request = plan.request if position == 0 else rt.request_for(alias, plan.request)
        if position > 0:
            rt.sink.post(
                [ev.FallbackUsed(step=path, from_model=chain[position - 1], to_model=alias, reason=_why(last))]
            )
            totals.open_entry(f"fallback {alias}")
        outcome, last, jump = await _attempts(rt, path, plan, request, validate, totals, replay=position == 0)
        if outcome is not None:
            outcome.degraded = position > 0
            outcome.latency_s = rt.clock.now() - started
            return outcome
        assert last is not None
        if last.category in HUMAN_ONLY:
            break
        if last.category == "context_window":
            position = jump if jump is not None else len(chain)
            continue
        position += 1
    if plan.fallback_static is not None and (last is None or last.category not in NO_STATIC):
        rt.sink.post([ev.FallbackUsed(step=path, from_model=chain[-1], to_model="", reason=_why(last), static=True)])
        value = plan.fallback_static
        totals.text = value if isinstance(value, str) else str(value)
        totals.value = value
        totals.degraded = True
        totals.static = True
        totals.latency_s = rt.clock.now() - started
        totals.notes.append("static fallback result")
        return totals
    assert last is not None
    raise StepFailure(
        f"{last.category}: {last.message}" if last.message else last.category,
        last.category,
        totals.attempts,
        detail=_attempt_summary(totals),
    )


async def _attempts(
    rt: Runtime,
    path: str,
    plan: CallPlan,
    request: LLMRequest,
    validate: Validator,
    totals: CallResult,
    replay: bool,
) -> tuple[CallResult | None, ModelError | None, int | None]:
    """Attempts on one model. Returns (accepted result | None, last error, chain index to jump to)."""
    retry = plan.retry
    breaker = rt.breakers.get(request.model)
    request_hash = request.hash()  # once: hashing a long prompt is not free
    last: ModelError | None = None
    attempt = 0
    while attempt < retry.attempts:
        attempt += 1
        if replay and attempt == 1 and plan.replay:
            recorded = rt.history.calls_by_hash.get(request_hash)
            if recorded is not None:
                try:
                    value = validate(recorded.text)
                except OutputInvalid:
                    value = None
                else:
                    totals.attempts += 1
                    return _replayed(path, request, recorded, value, totals), None, None
        allowed, change = breaker.allow(rt.clock.now())
        if change:
            _post_breaker(rt, path, breaker, change)
        if not allowed:
            last = ModelError("server", f"circuit breaker open for {request.model}")
            last.category = "breaker_open"
            wait = breaker.wait(rt.clock.now())
            if attempt < retry.attempts and wait <= retry.max_wait_s and not rt.has_fallback_after(request.alias, plan):
                _schedule(rt, path, "", request, attempt, wait, last, totals, tag="breaker open")
                await rt.clock.sleep(wait)
                continue
            totals.timeline.append(f"{request.alias}: breaker open")
            return None, last, None
        prompt_tokens, forecast = _forecast(rt, request)
        caps = scopes_for(path, rt.caps, rt.session_cap)
        settle = None
        if caps and not plan.budget_override:
            verdict = rt.ledger.check(caps, forecast[1] if forecast else None)
            if verdict is not None:
                breaker.release_trial()
                rt.sink.post(
                    [
                        ev.BudgetWarning(
                            step=path,
                            scope=verdict.scope,
                            limit_usd=verdict.limit_usd,
                            spent_usd=verdict.spent_usd,
                            forecast_usd=verdict.forecast_usd,
                            blocked=True,
                        )
                    ]
                )
                raise BudgetBlocked(verdict, request.alias)
        if caps and forecast is not None:
            settle = rt.ledger.reserve(path, forecast[1])
        call_id = new_call_id()
        totals.attempts += 1
        rt.sink.post(
            [
                ev.LLMCallStarted(
                    step=path,
                    call_id=call_id,
                    model=request.model,
                    alias=request.alias,
                    attempt=attempt,
                    request_hash=request_hash,
                    prompt_tokens=prompt_tokens or 0,
                    forecast_usd=list(forecast) if forecast else None,
                )
            ]
        )
        timeout = plan.timeout
        live = _Live(rt, path, call_id)
        try:
            try:
                result = await rt.llm.stream(
                    request,
                    live.text,
                    first_token_s=timeout.first_token_s,
                    idle_s=timeout.idle_s,
                    total_s=timeout.total_s,
                )
            finally:
                live.end()
        except ModelError as error:
            last = error
            _failed_attempt(rt, path, request, request_hash, call_id, attempt, prompt_tokens, error, totals, settle)
            change = breaker.failure(rt.clock.now(), error.category)
            if change:
                _post_breaker(rt, path, breaker, change, error.category)
            if error.category == "context_window":
                return None, last, rt.larger_context_index(plan, request)
            if error.category in HUMAN_ONLY:
                return None, last, None
            if error.retryable and attempt < retry.attempts:
                delay = _wait(rt, retry, attempt, error)
                if delay is None:
                    over = f"Retry-After {error.retry_after:g}s is over max_wait_s {retry.max_wait_s:g}s"
                    totals.timeline.append(over)
                    return None, last, None
                _schedule(rt, path, call_id, request, attempt, delay, error, totals)
                await rt.clock.sleep(delay)
                continue
            return None, last, None
        except BaseException:
            if settle is not None:
                settle(None)
            breaker.release_trial()
            raise
        if settle is not None:
            settle(result.cost_usd)
        elif result.cost_usd:
            rt.ledger.add(path, result.cost_usd)
        _account(rt, totals, result.tokens_in, result.tokens_out, result.cost_usd)
        finished = _finished(path, call_id, request, request_hash, attempt, result, rt)
        try:
            value = validate(result.text)
        except OutputInvalid as invalid:
            rt.sink.post([_as_invalid(finished, str(invalid))])
            breaker.release_trial()
            last = ModelError("bad_request", str(invalid))
            last.category = "invalid_output"
            totals.note_failure("invalid output", False)
            if attempt < retry.attempts:
                wait = backoff(attempt, retry.backoff_s, retry.jitter, rt.clock.uniform)
                _schedule(rt, path, call_id, request, attempt, wait, last, totals)
                await rt.clock.sleep(wait)
                continue
            return None, last, None
        change = breaker.success()
        if change:
            _post_breaker(rt, path, breaker, change)
        totals.note_outcome("✓")
        totals.text, totals.value = result.text, value
        totals.alias, totals.model, totals.finished = request.alias, request.model, finished
        return totals, None, None
    return None, last, None


def _forecast(rt: Runtime, request: LLMRequest) -> tuple[int | None, tuple[float, float] | None]:
    """Prompt tokens and cost range before a call. Without a known price there is no range, and nothing
    needs the prompt counted before the call (a budget blocks an unpriced call whatever its size; the
    provider reports what was used): the count is left out (None) and made only if a failed attempt
    must be billed for what it streamed."""
    if not rt.llm.price_known(request.model):
        return None, None
    return rt.llm.forecast(request)


def _failed_attempt(
    rt: Runtime,
    path: str,
    request: LLMRequest,
    request_hash: str,
    call_id: str,
    attempt: int,
    prompt_tokens: int | None,
    error: ModelError,
    totals: CallResult,
    settle: Callable[[float | None], None] | None,
) -> None:
    """Record a failed attempt. Text it streamed before failing is `discarded`: a viewer strikes it, and
    the retry streams under a new call id, so no token is ever shown twice."""
    if prompt_tokens is None:
        prompt_tokens = rt.llm.forecast(request)[0] if error.partial else 0
    cost = _partial_cost(rt, request, prompt_tokens, error.partial)
    if settle is not None:
        settle(cost)
    elif cost:
        rt.ledger.add(path, cost)
    tokens_in = prompt_tokens if error.partial else 0
    tokens_out = estimate_tokens(error.partial) if error.partial else 0
    _account(rt, totals, tokens_in, tokens_out, cost)
    rt.sink.post(
        [
            ev.LLMCallFinished(
                step=path,
                call_id=call_id,
                model=request.model,
                alias=request.alias,
                attempt=attempt,
                status="discarded" if error.partial else "error",
                text=error.partial,
                request_hash=request_hash,
                request=rt.record(request),
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                ttft_s=error.ttft_s,
                error=error.message,
                error_type=error.category,
            )
        ]
    )
    label = short_error(error.category, error.message)
    totals.note_failure(label, bool(error.partial))


def _schedule(
    rt: Runtime,
    path: str,
    call_id: str,
    request: LLMRequest,
    attempt: int,
    wait: float,
    error: ModelError,
    totals: CallResult,
    tag: str = "",
) -> None:
    rt.sink.post(
        [
            ev.RetryScheduled(
                step=path,
                call_id=call_id,
                model=request.model,
                attempt=attempt,
                wait_s=wait,
                error=error.message,
                error_type=error.category,
                retry_after=error.retry_after is not None,
            )
        ]
    )
    totals.retry_entry(attempt, wait, tag)


def _post_breaker(rt: Runtime, path: str, breaker: Breaker, state: str, reason: str = "") -> None:
    rt.sink.post(
        [ev.BreakerChanged(step=path, model=breaker.model, state=state, failures=breaker.failures, reason=reason)]
    )


class _Live:
    """A call's streamed text on its way to viewers, redacted as it streams: a key the model echoes is
    never shown, not even in part (text that could be the start of one waits for the next chunk)."""

    __slots__ = ("_delta", "_stream")

    def __init__(self, rt: Runtime, path: str, call_id: str) -> None:
        self._delta = functools.partial(rt.sink.delta, path, call_id)
        self._stream = StreamRedactor(rt.redact)

    def text(self, chunk: str) -> None:
        """One streamed chunk."""
        shown = self._stream.feed(chunk)
        if shown:
            self._delta(shown)

    def end(self) -> None:
        """The stream is over (finished or failed): release what was held back."""
        rest = self._stream.flush()
        if rest:
            self._delta(rest)


def _replayed(
    path: str, request: LLMRequest, recorded: ev.LLMCallFinished, value: Any, totals: CallResult
) -> CallResult:
    finished = ev.LLMCallFinished(
        step=path,
        call_id=new_call_id(),
        model=recorded.model,
        alias=request.alias,
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
    )
    totals.text, totals.value, totals.finished = recorded.text, value, finished
    totals.alias, totals.model = request.alias, recorded.model
    totals.notes.append("answer replayed from the session record ($0)")
    totals.note_outcome("✓ (replayed)")
    return totals


def _finished(
    path: str, call_id: str, request: LLMRequest, request_hash: str, attempt: int, result: LLMResult, rt: Runtime
) -> ev.LLMCallFinished:
    return ev.LLMCallFinished(
        step=path,
        call_id=call_id,
        model=request.model,
        alias=request.alias,
        attempt=attempt,
        status="ok",
        text=result.text,
        request_hash=request_hash,
        request=rt.record(request),
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost_usd=result.cost_usd,
        latency_s=result.latency_s,
        ttft_s=result.ttft_s,
    )


def _as_invalid(finished: ev.LLMCallFinished, reason: str) -> ev.LLMCallFinished:
    return dataclasses.replace(
        finished, status="error", error=f"invalid output: {reason}", error_type="invalid_output", replayed=False
    )


def _account(rt: Runtime, totals: CallResult, tokens_in: int, tokens_out: int, cost: float | None) -> None:
    rt.tokens_in += tokens_in
    rt.tokens_out += tokens_out
    totals.tokens_in += tokens_in
    totals.tokens_out += tokens_out
    if cost is None or totals.cost_usd is None:
        totals.cost_usd = None
    else:
        totals.cost_usd += cost


def _partial_cost(rt: Runtime, request: LLMRequest, prompt_tokens: int, partial: str) -> float | None:
    """A streamed-then-failed attempt is billed for what it streamed (estimated); none before that."""
    if not partial:
        return 0.0
    return rt.llm.cost(request.model, prompt_tokens, estimate_tokens(partial))


def _wait(rt: Runtime, retry: RetryPolicy, attempt: int, error: ModelError) -> float | None:
    """Backoff with full jitter, or the server's Retry-After; None when the server asks for too long."""
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= retry.max_wait_s else None
    return backoff(attempt, retry.backoff_s, retry.jitter, rt.clock.uniform)


def _why(error: ModelError | None) -> str:
    return f"{error.category}: {error.message}"[:300] if error else "fallback"


def _attempt_summary(totals: CallResult) -> str:
    count = f"{totals.attempts} attempt{'s' if totals.attempts != 1 else ''}"
    return f"{count}: {totals.timeline_text}" if totals.timeline else count
