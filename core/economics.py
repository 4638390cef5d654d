"""What a session cost, computed from what it actually used (never from claims).

Per step and per model cost and tokens; the orchestration share (routers, managers' decisions and
steps marked `orchestration: true`) of cost and time; the savings of routing, estimated as the same
measured tokens priced at the session's strongest model; and a projection at N runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.view import SessionView, StepView


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
    all_strong_usd: float | None = None
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
    def routing_savings_usd(self) -> float | None:
        """Estimated saving against running every call on the strongest model."""
        return None if self.all_strong_usd is None else self.all_strong_usd - self.total_usd

    @property
    def routing_savings_share(self) -> float | None:
        """The saving as a share of the all-strong estimate."""
        if self.all_strong_usd is None or self.all_strong_usd <= 0:
            return None
        return (self.all_strong_usd - self.total_usd) / self.all_strong_usd

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
        if call.status == "running":
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
            )
        )
        out.work_s += seconds
        if step.orchestration:
            out.orchestration_usd += step.cost_usd
            out.orchestration_s += seconds
    out.models = sorted(by_model.values(), key=lambda line: -line.cost_usd)
    if prices:
        strong = max(prices, key=lambda m: (prices[m][1], prices[m][0]))
        pin, pout = prices[strong]
        out.strong_model = strong
        total = 0.0
        for call in view.calls.values():
            if call.status == "running" or call.replayed:
                continue
            total += call.tokens_in * pin + call.tokens_out * pout
        out.all_strong_usd = total
    return out


def usd(value: float | None, unknown: bool = False) -> str:
    """Money as shown everywhere: `$0.0123`, `unknown`, or a lower bound `≥$0.0123`."""
    if value is None:
        return "unknown"
    text = f"${value:.4f}" if value < 1 else f"${value:,.2f}"
    return ("≥" + text) if unknown else text
