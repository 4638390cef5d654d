"""Routing taught by decisions: which model a step may use, from what people accepted of each model's answers.

Every decision a person makes on a step's answer counts for the model that wrote it: an approval as
accepted; a rejection or an edit as not (the answer was not taken as it was); a retry on another model as
*retried away*. A cheaper model that has been judged at least `minimum` times and accepted at least as
often as the step's current one is suggested, with what it would have saved at the step's volume of calls.
Pure counting over recorded events; the store's side is `sessions.routes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.learn.lessons import NOT_ANSWERS, template

VERDICTS = {"approve": "approved", "reject": "rejected", "edit": "rejected", "retry_model": "retried"}
"""How a decision on an answer counts for the model that wrote it (other decisions do not count)."""


@dataclass(frozen=True)
class Verdict:
    """A person's decision on one answer of a step, and the call that wrote it."""

    workflow: str
    step: str
    alias: str
    model: str
    verdict: str
    """approved | rejected | retried"""
    session: str
    cost_usd: float | None = None


@dataclass(frozen=True)
class CallCost:
    """One model call a step made (replayed calls, which cost nothing, are not counted)."""

    workflow: str
    step: str
    alias: str
    model: str
    cost_usd: float | None


@dataclass
class Observed:
    """What one session (or several, in order) says about its steps' models."""

    verdicts: list[Verdict] = field(default_factory=list)
    calls: list[CallCost] = field(default_factory=list)
    configured: dict[tuple[str, str], str] = field(default_factory=dict)
    """(workflow, step) → the alias the step started on (the newest session's)."""

    def add(self, other: Observed) -> None:
        """Another session's, observed after this one's."""
        self.verdicts.extend(other.verdicts)
        self.calls.extend(other.calls)
        self.configured.update(other.configured)


def observe(workflow: str, session_id: str, envelopes: Iterable[ev.Envelope]) -> Observed:
    """The decisions on answers in one session, its model calls, and the model each step started on."""
    last: dict[str, ev.LLMCallFinished] = {}
    reviewed: dict[str, ev.LLMCallFinished] = {}
    out = Observed()
    verdicts, calls = out.verdicts, out.calls
    for env in envelopes:
        e = env.event
        if isinstance(e, ev.StepStarted) and e.model:
            out.configured[(workflow, template(e.step))] = e.model
        elif isinstance(e, ev.LLMCallFinished) and e.status == "ok":
            last[e.step] = e
            if not e.replayed:
                calls.append(CallCost(workflow, template(e.step), e.alias, e.model, e.cost_usd))
        elif isinstance(e, ev.CheckpointOpened) and e.reason not in NOT_ANSWERS and e.output is not None:
            call = last.get(e.step)
            if call is not None:
                reviewed[e.checkpoint_id] = call
        elif isinstance(e, ev.DecisionMade) and e.checkpoint_id in reviewed and e.decision in VERDICTS:
            if not ev.by_a_person(e.by):  # `--auto` and rules judge nothing
                reviewed.pop(e.checkpoint_id)
                continue
            call = reviewed.pop(e.checkpoint_id)
            if e.decision == "retry_model" and e.model == call.alias:
                continue
            cost = None if call.replayed else call.cost_usd
            verdicts.append(
                Verdict(workflow, template(e.step), call.alias, call.model, VERDICTS[e.decision], session_id, cost)
            )
    return out


@dataclass
class ModelRecord:
    """One model's record at one step."""

    alias: str
    model: str
    approved: int = 0
    rejected: int = 0
    retried: int = 0
    calls: int = 0
    cost_total: float = 0.0
    priced_calls: int = 0
    last_seen: int = 0
    """Order of its newest call among the step's (an alias pointed at another model starts a new record)."""

    @property
    def decisions(self) -> int:
        """Answers a person judged."""
        return self.approved + self.rejected + self.retried

    @property
    def acceptance(self) -> float | None:
        """Approved share of the judged answers (None before any)."""
        return self.approved / self.decisions if self.decisions else None

    @property
    def mean_cost(self) -> float | None:
        """Mean cost of one call (None when no call had a known price)."""
        return self.cost_total / self.priced_calls if self.priced_calls else None

    def to_json(self) -> dict[str, Any]:
        """As `baton routes --json` prints it."""
        return {
            "alias": self.alias,
            "model": self.model,
            "approved": self.approved,
            "rejected": self.rejected,
            "retried": self.retried,
            "decisions": self.decisions,
            "acceptance": _round(self.acceptance, 4),
            "calls": self.calls,
            "mean_cost_usd": _round(self.mean_cost, 8),
        }


@dataclass(frozen=True)
class Suggestion:
    """Use `alias` (`model`) instead of the step's current model."""

    alias: str
    model: str
    instead_of: str
    acceptance: float
    current_acceptance: float
    saving_per_call: float
    projected_savings: float
    why: str

    def to_json(self) -> dict[str, Any]:
        """As `baton routes --json` prints it."""
        return {
            "alias": self.alias,
            "model": self.model,
            "instead_of": self.instead_of,
            "acceptance": round(self.acceptance, 4),
            "current_acceptance": round(self.current_acceptance, 4),
            "saving_per_call_usd": round(self.saving_per_call, 8),
            "projected_savings_usd": round(self.projected_savings, 8),
            "why": self.why,
        }


@dataclass
class StepRoutes:
    """What the store says about one step's models."""

    workflow: str
    step: str
    current: str
    """The alias the step started on in the newest session."""
    volume: int = 0
    """The step's model calls in the store (every model)."""
    models: list[ModelRecord] = field(default_factory=list)
    suggestion: Suggestion | None = None
    why_not: str = ""

    def record(self, alias: str, model: str | None = None) -> ModelRecord | None:
        """The record of `alias` (pointing at `model`; by default at the model it called last) at this step."""
        found = [m for m in self.models if m.alias == alias and (model is None or m.model == model)]
        return max(found, key=lambda m: m.last_seen) if found else None

    def to_json(self) -> dict[str, Any]:
        """As `baton routes --json` prints it."""
        return {
            "workflow": self.workflow,
            "step": self.step,
            "current": self.current,
            "volume": self.volume,
            "models": [m.to_json() for m in self.models],
            "suggestion": self.suggestion.to_json() if self.suggestion else None,
            "why_not": self.why_not,
        }


def report(seen: Observed, minimum: int) -> list[StepRoutes]:
    """Per step (in the order first seen): each model's record and, where the record supports one, a cheaper
    model to use. The step's current model is the one it started on in the newest session."""
    steps: dict[tuple[str, str], StepRoutes] = {}

    def model_of(workflow: str, step: str, alias: str, model: str) -> ModelRecord:
        routes = steps.setdefault((workflow, step), StepRoutes(workflow, step, alias))
        found = routes.record(alias, model)
        if found is None:
            found = ModelRecord(alias, model)
            routes.models.append(found)
        return found

    for order, call in enumerate(seen.calls, 1):
        record = model_of(call.workflow, call.step, call.alias, call.model)
        record.calls += 1
        record.last_seen = order
        if call.cost_usd is not None:
            record.cost_total += call.cost_usd
            record.priced_calls += 1
        steps[(call.workflow, call.step)].volume += 1
    for v in seen.verdicts:
        record = model_of(v.workflow, v.step, v.alias, v.model)
        setattr(record, v.verdict, getattr(record, v.verdict) + 1)
    for key, routes in steps.items():
        routes.current = seen.configured.get(key, routes.current)
        routes.models.sort(key=lambda m: (m.mean_cost is None, m.mean_cost or 0.0, m.alias, m.model))
        routes.suggestion, routes.why_not = suggest(routes, minimum)
    return list(steps.values())


def suggest(routes: StepRoutes, minimum: int) -> tuple[Suggestion | None, str]:
    """The cheapest model judged at least `minimum` times and accepted at least as often as the current one
    (or why none is suggested)."""
    current = routes.record(routes.current)
    if current is None or current.acceptance is None:
        return None, f"no decisions yet on {routes.current}'s answers"
    if current.mean_cost is None:
        return None, f"{routes.current} has no known price"
    cheaper = [m for m in routes.models if m.mean_cost is not None and m.mean_cost < current.mean_cost]
    if not cheaper:
        return None, f"no cheaper model has answered here than {routes.current}"
    judged = [m for m in cheaper if m.decisions >= minimum]
    if not judged:
        return None, f"no cheaper model has {minimum} decisions yet"
    good = [m for m in judged if m.acceptance is not None and m.acceptance >= current.acceptance]
    if not good:
        return None, f"cheaper models were accepted less often than {routes.current}"
    best = min(good, key=lambda m: (m.mean_cost or 0.0, -(m.acceptance or 0.0)))
    assert best.mean_cost is not None and best.acceptance is not None
    saving = current.mean_cost - best.mean_cost
    why = (
        f"{best.alias} was accepted {best.approved} of {best.decisions} times ({best.acceptance:.0%}), "
        f"{routes.current} {current.approved} of {current.decisions} ({current.acceptance:.0%}), "
        f"at {_usd(best.mean_cost)} a call instead of {_usd(current.mean_cost)}"
    )
    return Suggestion(
        best.alias, best.model, routes.current, best.acceptance, current.acceptance, saving, saving * routes.volume, why
    ), ""


def _usd(value: float) -> str:
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
