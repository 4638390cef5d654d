"""A budget that the next call could pass: the call was not sent; a person sends it anyway, picks a
cheaper model, skips the step or pauses. Unattended, the session pauses (money is a person's call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask, Unattended
from baton.core.runner.gates.base import Gate, Proceed, Verdict
from baton.core.runner.guards import BudgetVerdict
from baton.core.runner.runtime import Runtime


@dataclass
class BudgetOver(Gate):
    """The call of `alias` could pass the cap `verdict` names."""

    path: str
    round: int
    verdict: BudgetVerdict
    alias: str
    prompt: str
    forecasts: dict[str, Any]

    def ask(self, rt: Runtime) -> Ask:
        v = self.verdict
        message = (
            f"{v.scope} budget ${v.limit_usd:.4f}: ${v.spent_usd:.4f} spent and reserved, "
            f"this call could cost up to ${v.forecast_usd:.4f}"
            if v.forecast_usd
            else f"{v.scope} budget ${v.limit_usd:.4f}: the price of '{self.alias}' is unknown"
        )
        return Ask(
            self.path,
            "budget",
            message=message,
            context={"prompt": self.prompt},
            options=["approve", "retry_model", "skip", "pause"],
            forecasts=self.forecasts,
            round=self.round,
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended("pause", f"the next call of '{self.path}' could exceed a budget ({message})"),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "approve":
            return Proceed(decision, past_budget=True)
        return super().apply(decision)
