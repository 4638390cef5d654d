"""`review: {cost_over: X}`: before a call whose forecast cost is over X (or unknown), a person approves
it, edits its prompt, picks another model or skips the step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Gate, Proceed, Verdict
from baton.core.runner.runtime import Runtime


@dataclass
class CostOver(Gate):
    """The forecast of the next call is over the step's `cost_over`."""

    path: str
    round: int
    limit_usd: float
    forecast_usd: float | None
    prompt: str
    forecasts: dict[str, Any]

    def ask(self, rt: Runtime) -> Ask:
        shown = f"${self.forecast_usd:.4f}" if self.forecast_usd is not None else "unknown"
        return Ask(
            self.path,
            "cost",
            message=f"forecast {shown} is over cost_over ${self.limit_usd:g}",
            context={"prompt": self.prompt},
            options=["approve", "edit", "retry_model", "skip", "pause"],
            forecasts=self.forecasts,
            round=self.round,
            edit=edits.prompt(self.prompt),
            skip_needs=rt.skip_needs(self.path),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, prompt=str(decision.edited))
        return super().apply(decision)


def over(limit_usd: float, forecast: tuple[float, float] | None) -> bool:
    """Does a call's forecast range pass `cost_over` (an unknown price always does)?"""
    return forecast is None or forecast[1] > limit_usd
