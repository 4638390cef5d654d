"""One model call of a step, through every automatic layer of handling.

Per attempt: circuit breaker → budget forecast (the call is not sent if it could pass a cap) → stream
with first-token and idle watchdogs → validate the output. Transient failures retry with backoff and
full jitter (Retry-After honoured); then the fallback chain (other aliases, then a static result, marked
degraded). What is left is a `StepFailure` for the step to escalate to a person. Every attempt, wait,
fallback and breaker change is an event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core import events as ev
from core.llm.types import LLMRequest, LLMResult, ModelError
from core.runner.context import StepFailure
from core.runner.guards import BudgetVerdict, backoff, scopes_for
from core.spec.model import RetryPolicy, TimeoutPolicy
from core.state import estimate_tokens
from core.structured import OutputInvalid

if TYPE_CHECKING:
    from core.runner.runtime import Runtime


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
class CallResult:
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
        outcome, last, jump = await _attempts(rt, path, plan, request, validate, totals, replay=position == 0)
        if outcome is not None:
            outcome.degraded = position > 0
            outcome.latency_s = rt.clock.now() - started
            return outcome
        assert last is not None
        if last.category == "content_policy":
            break
        if last.category == "context_window":
            position = jump if jump is not None else len(chain)
            continue
        position += 1
    if plan.fallback_static is not None and (last is None or last.category not in ("content_policy",)):
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
    last: ModelError | None = None
    attempt = 0
    while attempt < retry.attempts:
        attempt += 1
        totals.attempts += 1
        if replay and attempt == 1 and plan.replay:
            recorded = rt.history.calls_by_hash.get(request.hash())
            if recorded is not None:
                try:
                    value = validate(recorded.text)
                except OutputInvalid:
                    value = None
                else:
                    return _replayed(path, request, recorded, value, totals), None, None
        allowed, change = breaker.allow(rt.clock.now())
        if change:
            rt.sink.post([ev.BreakerChanged(step=path, model=request.model, state=change, failures=breaker.failures)])
        if not allowed:
            last = ModelError("server", f"circuit breaker open for {request.model}")
            wait = breaker.remaining(rt.clock.now())
            if attempt < retry.attempts and wait <= retry.max_wait_s and not rt.has_fallback_after(request.alias, plan):
                rt.sink.post(
                    [
                        ev.RetryScheduled(
                            step=path,
                            model=request.model,
                            attempt=attempt,
                            wait_s=wait,
                            error=last.message,
                            error_type="breaker_open",
                        )
                    ]
                )
                await rt.clock.sleep(wait)
                continue
            return None, last, None
        prompt_tokens, forecast = rt.llm.forecast(request)
        caps = scopes_for(path, rt.caps, rt.session_cap)
        settle = None
        if caps and not plan.budget_override:
            verdict = rt.ledger.check(caps, forecast[1] if forecast else None)
            if verdict is not None:
                breaker.trial_in_flight = False
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
        rt.sink.post(
            [
                ev.LLMCallStarted(
                    step=path,
                    call_id=call_id,
                    model=request.model,
                    alias=request.alias,
                    attempt=attempt,
                    request_hash=request.hash(),
                    prompt_tokens=prompt_tokens,
                    forecast_usd=list(forecast) if forecast else None,
                )
            ]
        )
        timeout = plan.timeout
        try:
            result = await rt.llm.stream(
                request,
                _live(rt, path, call_id),
                first_token_s=timeout.first_token_s,
                idle_s=timeout.idle_s,
                total_s=timeout.total_s,
            )
        except ModelError as error:
            cost = _partial_cost(rt, request, prompt_tokens, error.partial)
            if settle is not None:
                settle(cost)
            elif cost:
                rt.ledger.add(path, cost)
            _account(rt, totals, prompt_tokens if error.partial else 0, estimate_tokens(error.partial), cost)
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
                        request_hash=request.hash(),
                        request=rt.record(request),
                        tokens_in=prompt_tokens if error.partial else 0,
                        tokens_out=estimate_tokens(error.partial),
                        cost_usd=cost,
                        ttft_s=error.ttft_s,
                        error=error.message,
                        error_type=error.category,
                    )
                ]
            )
            _breaker_failure(rt, path, breaker, error.category)
            last = error
            if error.category == "context_window":
                return None, last, rt.larger_context_index(plan, request)
            if error.category == "content_policy":
                return None, last, None
            if error.retryable and attempt < retry.attempts:
                delay = _wait(rt, retry, attempt, error)
                if delay is None:
                    return None, last, None
                rt.sink.post(
                    [
                        ev.RetryScheduled(
                            step=path,
                            call_id=call_id,
                            model=request.model,
                            attempt=attempt,
                            wait_s=delay,
                            error=error.message,
                            error_type=error.category,
                            retry_after=error.retry_after is not None,
                        )
                    ]
                )
                await rt.clock.sleep(delay)
                continue
            return None, last, None
        if settle is not None:
            settle(result.cost_usd)
        elif result.cost_usd:
            rt.ledger.add(path, result.cost_usd)
        _account(rt, totals, result.tokens_in, result.tokens_out, result.cost_usd)
        finished = _finished(path, call_id, request, attempt, result, rt)
        try:
            value = validate(result.text)
        except OutputInvalid as invalid:
            rt.sink.post([_as_invalid(finished, str(invalid))])
            breaker.trial_in_flight = False
            last = ModelError("bad_request", f"invalid output: {invalid}")
            last.category = "invalid_output"
            if attempt < retry.attempts:
                wait = backoff(attempt, retry.backoff_s, retry.jitter, rt.clock.uniform)
                rt.sink.post(
                    [
                        ev.RetryScheduled(
                            step=path,
                            call_id=call_id,
                            model=request.model,
                            attempt=attempt,
                            wait_s=wait,
                            error=last.message,
                            error_type="invalid_output",
                        )
                    ]
                )
                await rt.clock.sleep(wait)
                continue
            return None, last, None
        change = breaker.success()
        if change:
            rt.sink.post([ev.BreakerChanged(step=path, model=request.model, state=change)])
        totals.text, totals.value = result.text, value
        totals.alias, totals.model, totals.finished = request.alias, request.model, finished
        return totals, None, None
    return None, last, None


def _live(rt: Runtime, path: str, call_id: str) -> Callable[[str], None]:
    def on_text(text: str) -> None:
        rt.sink.delta(path, call_id, text)

    return on_text


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
    return totals


def _finished(
    path: str, call_id: str, request: LLMRequest, attempt: int, result: LLMResult, rt: Runtime
) -> ev.LLMCallFinished:
    return ev.LLMCallFinished(
        step=path,
        call_id=call_id,
        model=request.model,
        alias=request.alias,
        attempt=attempt,
        status="ok",
        text=result.text,
        request_hash=request.hash(),
        request=rt.record(request),
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost_usd=result.cost_usd,
        latency_s=result.latency_s,
        ttft_s=result.ttft_s,
    )


def _as_invalid(finished: ev.LLMCallFinished, reason: str) -> ev.LLMCallFinished:
    return ev.LLMCallFinished(
        step=finished.step,
        call_id=finished.call_id,
        model=finished.model,
        alias=finished.alias,
        attempt=finished.attempt,
        status="error",
        text=finished.text,
        request_hash=finished.request_hash,
        request=finished.request,
        tokens_in=finished.tokens_in,
        tokens_out=finished.tokens_out,
        cost_usd=finished.cost_usd,
        latency_s=finished.latency_s,
        ttft_s=finished.ttft_s,
        error=f"invalid output: {reason}",
        error_type="invalid_output",
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


def _breaker_failure(rt: Runtime, path: str, breaker: Any, category: str) -> None:
    change = breaker.failure(rt.clock.now(), category)
    if change:
        rt.sink.post(
            [
                ev.BreakerChanged(
                    step=path, model=breaker.model, state=change, failures=breaker.failures, reason=category
                )
            ]
        )


def _wait(rt: Runtime, retry: RetryPolicy, attempt: int, error: ModelError) -> float | None:
    """Backoff with full jitter, or the server's Retry-After; None when the server asks for too long."""
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= retry.max_wait_s else None
    return backoff(attempt, retry.backoff_s, retry.jitter, rt.clock.uniform)


def _why(error: ModelError | None) -> str:
    return f"{error.category}: {error.message}"[:300] if error else "fallback"


def _attempt_summary(totals: CallResult) -> str:
    return f"{totals.attempts} attempt{'s' if totals.attempts != 1 else ''}"
