"""What a session cost, computed from what it actually used (never from claims).

Every figure is built from the calls themselves, so a step whose calls ran on several models (a reject
retried on another model, a fallback) is attributed call by call. Also: the orchestration share (routers,
managers' decisions and steps marked `orchestration: true`) of cost and time; the savings of routing, claimed
only where a router chose between models; and a projection at N runs from what one full run costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from baton.core.spec.model import RouterStep, WorkflowSpec
from baton.core.spec.model_refs import step_aliases
from baton.core.step_path import under
from baton.core.view import CallView, SessionView, StepView

PRICE_ROUND = 12


@dataclass
class Line:
    """One row of a cost table. `parts` splits a step's row by the model of each call when it used several."""

    name: str
    cost_usd: float
    tokens_in: int
    tokens_out: int
    calls: int = 0
    seconds: float = 0.0
    unknown: bool = False
    orchestration: bool = False
    model: str = ""
    replayed: int = 0
    inherited: bool = False
    parts: list[Line] = field(default_factory=list)


@dataclass
class Summary:
    """Everything a session report shows."""

    total_usd: float
    unknown_calls: int
    tokens_in: int
    tokens_out: int
    wall_s: float
    steps: list[Line] = field(default_factory=list)
    models: list[Line] = field(default_factory=list)
    orchestration_usd: float = 0.0
    orchestration_s: float = 0.0
    work_s: float = 0.0
    strong_model: str = ""
    routed: list[str] = field(default_factory=list)
    routed_usd: float = 0.0
    router_usd: float = 0.0
    routed_strong_usd: float | None = None
    retries: int = 0
    discarded_calls: int = 0
    replayed_calls: int = 0
    inherited_usd: float = 0.0
    replayed_usd: float = 0.0
    """What the calls answered from a record at $0 cost when they were made (what a full run pays for them)."""
    replayed_unpriced: bool = False
    finished: bool = True

    @property
    def orchestration_cost_share(self) -> float | None:
        """Orchestration cost / total cost."""
        return self.orchestration_usd / self.total_usd if self.total_usd > 0 else None

    @property
    def orchestration_time_share(self) -> float | None:
        """Orchestration step time / all step time."""
        return self.orchestration_s / self.work_s if self.work_s > 0 else None

    @property
    def orchestration_steps(self) -> list[str]:
        """The steps counted as orchestration."""
        return [line.name for line in self.steps if line.orchestration]

    @property
    def routing_savings_usd(self) -> float | None:
        """Estimated saving of routing: the routed steps on the strong model, minus what they and their
        routers actually cost (negative when routing cost more than it saved)."""
        if self.routed_strong_usd is None:
            return None
        return self.routed_strong_usd - (self.routed_usd + self.router_usd)

    @property
    def routing_savings_share(self) -> float | None:
        """The saving as a share of the all-strong estimate."""
        saving = self.routing_savings_usd
        if saving is None or not self.routed_strong_usd:
            return None
        return saving / self.routed_strong_usd

    @property
    def full_run_usd(self) -> float:
        """What one whole run like this one costs: what this session paid, plus what a fork inherited from its
        parent and what it replayed from a record at $0 (a fresh run pays for those calls)."""
        return self.total_usd + self.inherited_usd + self.replayed_usd

    @property
    def partial_run(self) -> bool:
        """Part of this run's cost was paid elsewhere (a fork's parent) or not at all (replayed calls)."""
        return self.inherited_usd > 0 or self.replayed_usd > 0

    def projection(self, runs: int) -> float:
        """Cost of `runs` runs like this one (a full run each: inherited and replayed calls are paid)."""
        return self.full_run_usd * runs


def _leaf(step: StepView) -> bool:
    return bool(step.calls) or step.kind in ("tool", "gate")


def _counted(call: CallView) -> bool:
    """A call this session paid for (or would have, for an unknown price)."""
    return call.status != "running" and not call.inherited


def summarize(view: SessionView, now: float | None = None, spec: WorkflowSpec | None = None) -> Summary:
    """Build the report from a folded session. `spec` (the session's workflow) lets the routing estimate
    tell a router that chose between models from one that only chose a path; without it only routers that
    asked a model count."""
    wall = view.elapsed(now) if now is not None else view.active_s
    out = Summary(view.cost_usd, view.cost_unknown_calls, view.tokens_in, view.tokens_out, wall)
    out.inherited_usd = view.inherited_usd
    out.finished = view.status in ("completed", "degraded")
    out.models = _by_model(view.calls.values(), out)
    _replayed_value(view, out)
    for step in view.steps.values():
        out.retries += step.retries
        if not _leaf(step):
            continue
        line = _step_line(view, step)
        out.steps.append(line)
        out.work_s += line.seconds
        if step.orchestration:
            out.orchestration_usd += step.cost_usd
            out.orchestration_s += line.seconds
    _routing(view, out, {m: p for m, p in view.prices.items() if p}, spec)
    return out


def _by_model(calls: Iterable[CallView], out: Summary) -> list[Line]:
    """One row per model, each call counted on the model that made it."""
    by_model: dict[str, Line] = {}
    for call in calls:
        if not _counted(call):
            continue
        line = by_model.setdefault(call.model, Line(call.model, 0.0, 0, 0))
        _add_call(line, call)
        out.discarded_calls += call.status == "discarded"
        out.replayed_calls += call.replayed
    return sorted(by_model.values(), key=lambda line: -line.cost_usd)


def _add_call(line: Line, call: CallView) -> None:
    line.calls += 1
    line.tokens_in += call.tokens_in
    line.tokens_out += call.tokens_out
    line.replayed += call.replayed
    if call.cost_usd is None:
        line.unknown = True
    else:
        line.cost_usd += call.cost_usd


def _step_line(view: SessionView, step: StepView) -> Line:
    """A step's row; when its calls ran on several models, `parts` holds one row per model."""
    calls = [view.calls[c] for c in step.calls if c in view.calls and view.calls[c].status != "running"]
    parts: dict[str, Line] = {}
    for call in calls:
        if call.inherited:
            continue
        name = call.alias or call.model
        _add_call(parts.setdefault(name, Line(name, 0.0, 0, 0, model=name)), call)
    models = list(dict.fromkeys(c.alias or c.model for c in calls)) or ([step.model] if step.model else [])
    line = Line(
        step.path,
        step.cost_usd,
        step.tokens_in,
        step.tokens_out,
        len(step.calls),
        step.latency_s or 0.0,
        step.cost_unknown,
        step.orchestration,
        "→".join(models),
        replayed=sum(c.replayed for c in calls),
        inherited=bool(calls) and all(c.inherited for c in calls),
    )
    if len(parts) > 1:
        line.parts = list(parts.values())
    return line


def _replayed_value(view: SessionView, out: Summary) -> None:
    """Price the calls served from another session's record: this run paid $0 for them, a full run pays them.
    A replay of a call this session already paid for (a resume after a crash) is not counted twice."""
    paid = {c.request_hash for c in view.calls.values() if not c.replayed and c.request_hash}
    for call in view.calls.values():
        if not (call.replayed and _counted(call)) or call.request_hash in paid:
            continue
        price = view.prices.get(call.model)
        if not price:
            out.replayed_unpriced = True
            continue
        out.replayed_usd += call.tokens_in * price[0] + call.tokens_out * price[1]
    out.replayed_usd = round(out.replayed_usd, PRICE_ROUND)


def _routing(view: SessionView, out: Summary, prices: dict[str, list[float]], spec: WorkflowSpec | None) -> None:
    """What routing saved: each routed step's measured tokens (every attempt) at the strongest model's
    prices, against its actual cost plus the cost of the router that chose it. Only routers that chose a
    model count: a classifier that asked a model, or rules whose routes run on different models. A rules
    router whose routes all use the same models picks a path, and saves nothing by it."""
    routed = {target: router for target, router in view.routed.items() if _chose_model(view, spec, router)}
    calls = [c for c in view.calls.values() if _counted(c) and not c.replayed]
    routed_calls = [c for c in calls if any(under(c.step, target) for target in routed)]
    if not routed_calls:
        return
    out.routed = sorted(routed)
    routers = set(routed.values())
    out.router_usd = sum(c.cost_usd or 0.0 for c in calls if c.step in routers)
    out.routed_usd = sum(c.cost_usd or 0.0 for c in routed_calls)
    if not prices:
        return
    strong = max(prices, key=lambda m: (prices[m][1], prices[m][0]))
    pin, pout = prices[strong]
    out.strong_model = strong
    out.routed_strong_usd = sum(c.tokens_in * pin + c.tokens_out * pout for c in routed_calls)


def _chose_model(view: SessionView, spec: WorkflowSpec | None, router: str) -> bool:
    """Did this router's choice decide which model ran (not only which path)?"""
    step = next((s for s in spec.steps if s.id == router), None) if spec is not None else None
    if not isinstance(step, RouterStep):
        seen = view.steps.get(router)
        return seen is not None and any(c in view.calls for c in seen.calls)
    if step.model is not None:
        return True
    assert spec is not None
    by_id = {s.id: s for s in spec.steps}
    per_route = {
        tuple(view.models.get(a, a) for a in step_aliases(spec, by_id[target]))
        for target in step.routes.values()
        if target in by_id
    }
    return len(per_route) > 1


def usd(value: float | None, unknown: bool = False) -> str:
    """Money as shown everywhere: `$0.0123`, `unknown`, or a lower bound `≥$0.0123`."""
    if value is None:
        return "unknown"
    if 0 < abs(value) < 0.0001:
        text = f"${value:.{1 - math.floor(math.log10(abs(value)))}f}"
    else:
        text = f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"
    return ("≥" + text) if unknown else text
