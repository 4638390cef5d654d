"""Figures a person reads, each labelled with what it covers: the call being reviewed apart from its
step's total, calls numbered per round, a call's latency apart from the time a step waited for a
person, and a session's status as the person would put it ("waiting for you").

Computed from the session's view alone; a checkpoint's own `context["call"]` / `context["step"]` win
when the runner recorded them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core.view import CallView, CheckpointView, SessionView, StepView, status_text

REVIEWED_OUTPUT = ("review", "confidence", "sample", "on_failure")
"""Checkpoints on a model's answer: the header shows that call's figures."""
RERUNS = {"reject": "rejected", "retry_model": "on {model}", "edit": "edited", "approve": "retried"}
"""Decisions after which a step may call its model again (approve: an escalation's retry), and how
the round they start is introduced."""


@dataclass(frozen=True)
class Figures:
    """Tokens, cost and time of one call, or of a step's calls so far."""

    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_s: float | None = None
    calls: int = 1

    @classmethod
    def of(cls, data: dict[str, Any]) -> Figures:
        """From a checkpoint's `context["call"]` or `context["step"]` (missing fields are zero)."""
        latency = data.get("latency_s")
        return cls(
            model=str(data.get("alias") or data.get("model") or ""),
            tokens_in=int(data.get("tokens_in") or 0),
            tokens_out=int(data.get("tokens_out") or 0),
            cost_usd=data.get("cost_usd") if "cost_usd" in data else 0.0,
            latency_s=float(latency) if isinstance(latency, int | float) else None,
            calls=int(data.get("calls") or 1),
        )


def _calls_before(view: SessionView, step: str, at: float) -> list[CallView]:
    """The step's finished calls up to `at` (a checkpoint's opening), in the order they were made."""
    shown = view.steps.get(step)
    if shown is None:
        return []
    out = []
    for call_id in shown.calls:
        call = view.calls.get(call_id)
        if call is not None and call.status != "running" and (call.ended_at or 0.0) <= at + 1e-6:
            out.append(call)
    return out


def call_figures(cp: CheckpointView, view: SessionView | None) -> Figures | None:
    """The call whose answer a checkpoint shows (None when it shows no model's answer)."""
    ctx = cp.context
    if isinstance(ctx.get("call"), dict):
        return Figures.of(ctx["call"])
    if cp.reason not in REVIEWED_OUTPUT or "tokens_in" not in ctx:
        return None
    ok = [c for c in _calls_before(view, cp.step, cp.opened_at) if c.status == "ok"] if view is not None else []
    if not ok:
        return Figures.of(ctx)
    call = ok[-1]
    return Figures(call.alias or call.model, call.tokens_in, call.tokens_out, call.cost_usd, call.latency_s)


def step_figures(cp: CheckpointView, view: SessionView | None) -> Figures | None:
    """Every call of the checkpoint's step so far (rejected rounds, retries, other models included)."""
    ctx = cp.context
    if isinstance(ctx.get("step"), dict):
        return Figures.of(ctx["step"])
    calls = _calls_before(view, cp.step, cp.opened_at) if view is not None else []
    if not calls:
        return None
    costs = [c.cost_usd for c in calls]
    return Figures(
        tokens_in=sum(c.tokens_in for c in calls),
        tokens_out=sum(c.tokens_out for c in calls),
        cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        calls=len(calls),
    )


def calls_by_round(view: SessionView, step: StepView) -> list[tuple[int, str, list[CallView]]]:
    """A step's calls grouped by round: (round, what started it, calls). A round ends with a person's
    decision that runs the step again (reject, another model, an edited prompt, a retry)."""
    decided = sorted(
        (c for c in view.checkpoints.values() if c.step == step.path and c.decision is not None),
        key=lambda c: c.decision.at if c.decision is not None else 0.0,
    )
    rounds: list[tuple[int, str, list[CallView]]] = [(1, "", [])]
    boundaries = [c for c in decided if c.decision is not None and c.decision.decision in RERUNS]
    for call_id in step.calls:
        call = view.calls.get(call_id)
        if call is None:
            continue
        while boundaries and boundaries[0].decision is not None and boundaries[0].decision.at <= call.started_at:
            made = boundaries.pop(0).decision
            assert made is not None
            why = RERUNS[made.decision].format(model=made.model)
            if rounds[-1][2]:
                rounds.append((rounds[-1][0] + 1, why, []))
        rounds[-1][2].append(call)
    return [r for r in rounds if r[2]]


def models_used(view: SessionView, step: StepView) -> list[str]:
    """The models a step's calls went to, in first-use order (a retry on another model adds one): its
    tokens and cost cover all of them."""
    out: dict[str, None] = {}
    for call_id in step.calls:
        call = view.calls.get(call_id)
        if call is not None:
            out[call.alias or call.model] = None
    return list(out) or ([step.model] if step.model else [])


def model_latency(view: SessionView, step: StepView) -> float | None:
    """How long the step's last answered model call took (not the step's wall time)."""
    for call_id in reversed(step.calls):
        call = view.calls.get(call_id)
        if call is not None and call.status == "ok":
            return call.latency_s
    return None


def waited_s(view: SessionView, step: StepView, now: float) -> float:
    """Seconds the step spent waiting for a person at its checkpoints."""
    total = 0.0
    for cp in view.checkpoints.values():
        if cp.step != step.path:
            continue
        end = cp.decision.at if cp.decision is not None else now
        total += max(0.0, end - cp.opened_at)
    return total


def shown_status(view: SessionView, lost: str = "") -> str:
    """The session's status in a person's words: `waiting for you` while only checkpoints hold it."""
    if lost and not view.finished:
        return "runner lost"
    return status_text(view.shown_status)
