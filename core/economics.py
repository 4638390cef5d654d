"""What a session cost, computed from what it actually used (never from claims).

Per step and per model cost and tokens; the orchestration share (routers, managers' decisions and
steps marked `orchestration: true`) of cost and time; the savings of routing, estimated as the routed
steps' measured tokens priced at the session's strongest model against what they and their routers
actually cost; and a projection at N runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from baton.core.step_path import under
from baton.core.view import CallView, SessionView, StepView


@dataclass
class Line:
    """One row of a cost table."""

    name: str
    cost_usd: float
    tokens_in: int
    tokens_out: int
    calls: int = 0
    seconds: float = 0.0
    unknown: bool = False
    orchestration: bool = False
    model: str = ""


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

    def projection(self, runs: int) -> float:
        """Cost of `runs` runs like this one."""
        return self.total_usd * runs


def _leaf(step: StepView) -> bool:
    return bool(step.calls) or step.kind in ("tool", "gate")


def summarize(view: SessionView, now: float | None = None) -> Summary:
    """Build the report from a folded session."""
    wall = view.elapsed(now) if now is not None else view.active_s
    out = Summary(view.cost_usd, view.cost_unknown_calls, view.tokens_in, view.tokens_out, wall)
    by_model: dict[str, Line] = {}
    prices = {m: p for m, p in view.prices.items() if p}
    for call in view.calls.values():
        if call.status == "running" or call.inherited:
            continue
        line = by_model.setdefault(call.model, Line(call.model, 0.0, 0, 0))
        line.calls += 1
        line.tokens_in += call.tokens_in
        line.tokens_out += call.tokens_out
        if call.cost_usd is None:
            line.unknown = True
        else:
            line.cost_usd += call.cost_usd
        out.discarded_calls += call.status == "discarded"
        out.replayed_calls += call.replayed
    for step in view.steps.values():
        out.retries += step.retries
        if not _leaf(step):
            continue
        seconds = step.latency_s or 0.0
        out.steps.append(
            Line(
                step.path,
                step.cost_usd,
                step.tokens_in,
                step.tokens_out,
                len(step.calls),
                seconds,
                step.cost_unknown,
                step.orchestration,
                step.model,
            )
        )
        out.work_s += seconds
        if step.orchestration:
            out.orchestration_usd += step.cost_usd
            out.orchestration_s += seconds
    out.models = sorted(by_model.values(), key=lambda line: -line.cost_usd)
    _routing(view, out, prices)
    return out


def _routing(view: SessionView, out: Summary, prices: dict[str, list[float]]) -> None:
    """What routing saved: each routed step's measured tokens (every attempt) at the strongest model's
    prices, against its actual cost plus the cost of the router that chose it."""
    if not view.routed:
        return
    out.routed = sorted(view.routed)
    routers = set(view.routed.values())

    def counted(call: CallView) -> bool:
        return call.status != "running" and not call.replayed and not call.inherited

    calls = [c for c in view.calls.values() if counted(c)]
    routed_calls = [c for c in calls if any(under(c.step, target) for target in view.routed)]
    out.router_usd = sum(c.cost_usd or 0.0 for c in calls if c.step in routers)
    out.routed_usd = sum(c.cost_usd or 0.0 for c in routed_calls)
    if not prices:
        return
    strong = max(prices, key=lambda m: (prices[m][1], prices[m][0]))
    pin, pout = prices[strong]
    out.strong_model = strong
    out.routed_strong_usd = sum(c.tokens_in * pin + c.tokens_out * pout for c in routed_calls)


def usd(value: float | None, unknown: bool = False) -> str:
    """Money as shown everywhere: `$0.0123`, `unknown`, or a lower bound `≥$0.0123`."""
    if value is None:
        return "unknown"
    if 0 < abs(value) < 0.0001:
        text = f"${value:.{1 - math.floor(math.log10(abs(value)))}f}"
    else:
        text = f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"
    return ("≥" + text) if unknown else text
