"""One model call of a step, through every automatic layer of handling.

Per attempt: circuit breaker → budget forecast (the call is not sent if it could pass a cap) → stream
with first-token and idle watchdogs → validate the output. Transient failures retry with backoff and
full jitter (Retry-After honoured); then the fallback chain (other aliases, then a static result, marked
degraded). What is left is a `StepFailure` for the step to escalate to a person. Every attempt, wait,
fallback and breaker change is an event. Serving a recorded answer instead is a layer around this one
(`replay`), not a branch inside it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

from baton.core import events as ev
from baton.core.llm.types import LLMRequest, LLMResult, ModelError, short_error
from baton.core.runner.call_plan import Caller, CallPlan, CallResult, Validator, new_call_id
from baton.core.runner.context import StepFailure
from baton.core.runner.guards import Breaker, BudgetVerdict, backoff, scopes_for
from baton.core.runner.runtime import Runtime
from baton.core.secrets import StreamRedactor
from baton.core.spec.model import RetryPolicy
from baton.core.state import estimate_tokens
from baton.core.structured import OutputInvalid

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


def caller(rt: Runtime) -> Caller:
    """The live call of this run: every automatic layer, no record."""
    return functools.partial(call, rt)


async def call(rt: Runtime, path: str, plan: CallPlan, validate: Validator) -> CallResult:
    """Run `plan` for the step at `path` until an answer is accepted or every layer is exhausted."""
    chain = plan.chain
    totals = CallResult("", None, plan.request.alias, plan.request.model, False, None)
    last: ModelError | None = None
    started = rt.clock.now()
    position = 0
    while position < len(chain):
        alias = chain[position]
        request = plan.request if position == 0 else rt.request_for(alias, plan.request)
        if position > 0:
            rt.journal.note(
                [ev.FallbackUsed(step=path, from_model=chain[position - 1], to_model=alias, reason=_why(last))]
            )
            totals.open_entry(f"fallback {alias}")
        outcome, last, jump = await _attempts(rt, path, plan, request, validate, totals)
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
        return _static(rt, path, plan, last, totals, started)
    assert last is not None
    raise StepFailure(
        f"{last.category}: {last.message}" if last.message else last.category,
        last.category,
        totals.attempts,
        detail=_attempt_summary(totals),
    )


def _static(
    rt: Runtime, path: str, plan: CallPlan, last: ModelError | None, totals: CallResult, started: float
) -> CallResult:
    """The last resort: the step's `fallback_static` result, marked degraded."""
    rt.journal.note(
        [ev.FallbackUsed(step=path, from_model=plan.chain[-1], to_model="", reason=_why(last), static=True)]
    )
    value = plan.fallback_static
    totals.text = value if isinstance(value, str) else str(value)
    totals.value = value
    totals.degraded = True
    totals.static = True
    totals.latency_s = rt.clock.now() - started
    totals.notes.append("static fallback result")
    return totals


@dataclass
class _Attempt:
    """One model of the chain, while its attempts run."""

    rt: Runtime
    path: str
    plan: CallPlan
    request: LLMRequest
    totals: CallResult
    breaker: Breaker
    request_hash: str
    number: int = 0
    last: ModelError | None = None
    forecast: tuple[float, float] | None = None
    jump: int | None = None
    """After a context-window error: the chain index of a model with a larger window."""


async def _attempts(
    rt: Runtime, path: str, plan: CallPlan, request: LLMRequest, validate: Validator, totals: CallResult
) -> tuple[CallResult | None, ModelError | None, int | None]:
    """Attempts on one model. Returns (accepted result | None, last error, chain index to jump to)."""
    a = _Attempt(rt, path, plan, request, totals, rt.breakers.get(request.model), request.hash())
    retry = plan.retry
    while a.number < retry.attempts:
        a.number += 1
        wait = _refused_by_breaker(a)
        if wait is not None:
            if wait < 0:
                return None, a.last, None
            await rt.clock.sleep(wait)
            continue
        prompt_tokens, settle = _reserve(a)
        call_id = new_call_id()
        result = await _stream(a, call_id, prompt_tokens, settle)
        if isinstance(result, ModelError):
            delay = _after_error(a, call_id, result)
            if delay is None:
                return None, a.last, a.jump
            await rt.clock.sleep(delay)
            continue
        finished = _finished(path, call_id, request, a.request_hash, a.number, result, plan.turn)
        try:
            value = None if result.tool_calls and plan.turn else validate(result.text)
        except OutputInvalid as invalid:
            delay = _invalid(a, call_id, finished, str(invalid))
            if delay is None:
                return None, a.last, None
            await rt.clock.sleep(delay)
            continue
        change = a.breaker.success()
        if change:
            _post_breaker(rt, path, a.breaker, change)
        totals.note_outcome("✓")
        totals.text, totals.value = result.text, value
        totals.alias, totals.model, totals.finished = request.alias, request.model, finished
        totals.tool_calls = result.tool_calls if plan.turn else ()
        return totals, None, None
    return None, a.last, None


def _refused_by_breaker(a: _Attempt) -> float | None:
    """None when the breaker lets the call out; else how long to wait before trying again (-1: give up
    on this model, the chain has another)."""
    rt, request = a.rt, a.request
    allowed, change = a.breaker.allow(rt.clock.now())
    if change:
        _post_breaker(rt, a.path, a.breaker, change)
    if allowed:
        return None
    a.last = ModelError("server", f"circuit breaker open for {request.model}")
    a.last.category = "breaker_open"
    wait = a.breaker.wait(rt.clock.now())
    retry = a.plan.retry
    if a.number < retry.attempts and wait <= retry.max_wait_s and not _fallback_after(a.plan, request.alias):
        _schedule(rt, a.path, "", request, a.number, wait, a.last, a.totals, tag="breaker open")
        return wait
    a.totals.timeline.append(f"{request.alias}: breaker open")
    return -1.0


def _reserve(a: _Attempt) -> tuple[int | None, Callable[[float | None], None] | None]:
    """The budget check before a call: blocked (`BudgetBlocked`), or the forecast reserved."""
    rt, path = a.rt, a.path
    prompt_tokens, forecast = _forecast(rt, a.request)
    caps = scopes_for(path, rt.state.caps, rt.session_cap)
    settle = None
    if caps and not a.plan.budget_override:
        verdict = rt.ledger.check(caps, forecast[1] if forecast else None)
        if verdict is not None:
            a.breaker.release_trial()
            rt.journal.note(
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
            raise BudgetBlocked(verdict, a.request.alias)
    if caps and forecast is not None:
        settle = rt.ledger.reserve(path, forecast[1])
    a.totals.attempts += 1
    a.forecast = forecast
    return prompt_tokens, settle


async def _stream(
    a: _Attempt, call_id: str, prompt_tokens: int | None, settle: Callable[[float | None], None] | None
) -> LLMResult | ModelError:
    """Send the call and stream it to viewers; its cost settles the reservation."""
    rt, request = a.rt, a.request
    forecast = a.forecast
    rt.journal.note(
        [
            ev.LLMCallStarted(
                step=a.path,
                call_id=call_id,
                model=request.model,
                alias=request.alias,
                attempt=a.number,
                request_hash=a.request_hash,
                prompt_tokens=prompt_tokens or 0,
                forecast_usd=list(forecast) if forecast else None,
                turn=a.plan.turn,
                lessons=rt.lessons.ids(a.path),
            )
        ]
    )
    timeout = a.plan.timeout
    live = _Live(rt, a.path, call_id)
    try:
        try:
            result = await rt.llm.stream(
                request, live.text, first_token_s=timeout.first_token_s, idle_s=timeout.idle_s, total_s=timeout.total_s
            )
        finally:
            live.end()
    except ModelError as error:
        _failed_attempt(a, call_id, prompt_tokens, error, settle)
        return error
    except BaseException:
        if settle is not None:
            settle(None)
        a.breaker.release_trial()
        raise
    if settle is not None:
        settle(result.cost_usd)
    elif result.cost_usd:
        rt.ledger.add(a.path, result.cost_usd)
    _account(rt, a.totals, result.tokens_in, result.tokens_out, result.cost_usd)
    return result


def _after_error(a: _Attempt, call_id: str, error: ModelError) -> float | None:
    """After a failed attempt: the wait before retrying on this model, or None to leave it (after a
    context-window error `a.jump` says where in the chain a larger window is)."""
    rt = a.rt
    a.last = error
    change = a.breaker.failure(rt.clock.now(), error.category)
    if change:
        _post_breaker(rt, a.path, a.breaker, change, error.category)
    if error.category == "context_window":
        a.jump = _larger_context_index(rt, a.plan, a.request)
        return None
    if error.category in HUMAN_ONLY:
        return None
    retry = a.plan.retry
    if error.retryable and a.number < retry.attempts:
        delay = _wait(rt, retry, a.number, error)
        if delay is None:
            a.totals.timeline.append(f"Retry-After {error.retry_after:g}s is over max_wait_s {retry.max_wait_s:g}s")
            return None
        _schedule(rt, a.path, call_id, a.request, a.number, delay, error, a.totals)
        return delay
    return None


def _invalid(a: _Attempt, call_id: str, finished: ev.LLMCallFinished, reason: str) -> float | None:
    """An answer that failed validation: recorded as an error; the wait before the next attempt, if any."""
    rt = a.rt
    rt.journal.note([_as_invalid(finished, reason)])
    a.breaker.release_trial()
    a.last = ModelError("bad_request", reason)
    a.last.category = "invalid_output"
    a.totals.note_failure("invalid output", False)
    retry = a.plan.retry
    if a.number < retry.attempts:
        wait = backoff(a.number, retry.backoff_s, retry.jitter, rt.clock.uniform)
        _schedule(rt, a.path, call_id, a.request, a.number, wait, a.last, a.totals)
        return wait
    return None


def _fallback_after(plan: CallPlan, alias: str) -> bool:
    """Is there another model after `alias` in the plan's chain?"""
    chain = plan.chain
    return alias in chain and chain.index(alias) < len(chain) - 1


def _larger_context_index(rt: Runtime, plan: CallPlan, request: LLMRequest) -> int | None:
    """The next alias in the chain whose context window is larger than `request`'s model."""
    chain = plan.chain
    current = rt.window(request.alias)
    start = chain.index(request.alias) + 1 if request.alias in chain else len(chain)
    for i in range(start, len(chain)):
        window = rt.window(chain[i])
        if window is not None and (current is None or window > current):
            return i
    return None


def _forecast(rt: Runtime, request: LLMRequest) -> tuple[int | None, tuple[float, float] | None]:
    """Prompt tokens and cost range before a call. Without a known price there is no range, and nothing
    needs the prompt counted before the call (a budget blocks an unpriced call whatever its size; the
    provider reports what was used): the count is left out (None) and made only if a failed attempt
    must be billed for what it streamed."""
    if not rt.llm.price_known(request.model):
        return None, None
    return rt.llm.forecast(request)


def _failed_attempt(
    a: _Attempt,
    call_id: str,
    prompt_tokens: int | None,
    error: ModelError,
    settle: Callable[[float | None], None] | None,
) -> None:
    """Record a failed attempt. Text it streamed before failing is `discarded`: a viewer strikes it, and
    the retry streams under a new call id, so no token is ever shown twice."""
    rt, request = a.rt, a.request
    if prompt_tokens is None:
        prompt_tokens = rt.llm.forecast(request)[0] if error.partial else 0
    cost = _partial_cost(rt, request, prompt_tokens, error.partial)
    if settle is not None:
        settle(cost)
    elif cost:
        rt.ledger.add(a.path, cost)
    tokens_in = prompt_tokens if error.partial else 0
    tokens_out = estimate_tokens(error.partial) if error.partial else 0
    _account(rt, a.totals, tokens_in, tokens_out, cost)
    rt.journal.note(
        [
            ev.LLMCallFinished(
                step=a.path,
                call_id=call_id,
                model=request.model,
                alias=request.alias,
                attempt=a.number,
                status="discarded" if error.partial else "error",
                text=error.partial,
                request_hash=a.request_hash,
                request=request.record(),
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost,
                ttft_s=error.ttft_s,
                error=error.message,
                error_type=error.category,
                turn=a.plan.turn,
            )
        ]
    )
    a.totals.note_failure(short_error(error.category, error.message), bool(error.partial))


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
    rt.journal.note(
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
    rt.journal.note(
        [ev.BreakerChanged(step=path, model=breaker.model, state=state, failures=breaker.failures, reason=reason)]
    )


class _Live:
    """A call's streamed text on its way to viewers, redacted as it streams: a key the model echoes is
    never shown, not even in part (text that could be the start of one waits for the next chunk)."""

    __slots__ = ("_delta", "_stream")

    def __init__(self, rt: Runtime, path: str, call_id: str) -> None:
        self._delta = functools.partial(rt.journal.live, path, call_id)
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


def _finished(
    path: str, call_id: str, request: LLMRequest, request_hash: str, attempt: int, result: LLMResult, turn: int
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
        request=request.record(),
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        cost_usd=result.cost_usd,
        latency_s=result.latency_s,
        ttft_s=result.ttft_s,
        tool_calls=[call.record() for call in result.tool_calls],
        turn=turn,
    )


def _as_invalid(finished: ev.LLMCallFinished, reason: str) -> ev.LLMCallFinished:
    return dataclasses.replace(
        finished, status="error", error=f"invalid output: {reason}", error_type="invalid_output", replayed=False
    )


def _account(rt: Runtime, totals: CallResult, tokens_in: int, tokens_out: int, cost: float | None) -> None:
    rt.state.tokens_in += tokens_in
    rt.state.tokens_out += tokens_out
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
