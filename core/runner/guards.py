"""Guards shared by every call of a runner: a circuit breaker per model and the budget ledger.

Both are plain logic over an injected clock, so their transitions are tested without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from baton.core.step_path import under as inside

# Failures that say nothing about the model's health (the request itself was at fault).
NOT_HEALTH = frozenset({"content_policy", "context_window", "bad_request", "invalid_output", "empty_output"})


@dataclass
class Breaker:
    """closed → open after `threshold` consecutive failures → half_open after `cooldown_s` → closed on a
    success (or open again on a failure). In half_open a single trial call is let through."""

    model: str
    threshold: int
    cooldown_s: float
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0
    trial_in_flight: bool = False

    def allow(self, now: float) -> tuple[bool, str | None]:
        """May a call go out now? Also returns a new state when the breaker moved (to half_open)."""
        if self.state == "closed":
            return True, None
        if self.state == "open":
            if now - self.opened_at >= self.cooldown_s:
                self.state = "half_open"
                self.trial_in_flight = True
                return True, "half_open"
            return False, None
        if self.trial_in_flight:
            return False, None
        self.trial_in_flight = True
        return True, None

    def remaining(self, now: float) -> float:
        """Seconds until an open breaker lets a trial call through."""
        return max(0.0, self.cooldown_s - (now - self.opened_at)) if self.state == "open" else 0.0

    def wait(self, now: float) -> float:
        """How long a refused caller should wait before asking again: until the cooldown ends, or (while
        another step's trial call is out) a short while for its verdict."""
        if self.state == "open":
            return self.remaining(now)
        return min(1.0, self.cooldown_s) if self.state == "half_open" and self.trial_in_flight else 0.0

    def release_trial(self) -> None:
        """The trial call was never sent (budget, cancellation) or proved nothing about the model."""
        self.trial_in_flight = False

    def success(self) -> str | None:
        """Record a success; returns the new state if it changed."""
        self.failures = 0
        self.trial_in_flight = False
        if self.state != "closed":
            self.state = "closed"
            return "closed"
        return None

    def failure(self, now: float, category: str) -> str | None:
        """Record a failure; returns the new state if it changed."""
        if category in NOT_HEALTH:
            self.trial_in_flight = False
            return None
        self.failures += 1
        self.trial_in_flight = False
        if self.state == "half_open" or (self.state == "closed" and self.failures >= self.threshold):
            self.state = "open"
            self.opened_at = now
            return "open"
        return None


@dataclass
class Breakers:
    """One breaker per model, shared by all steps of a runner."""

    threshold: int = 5
    cooldown_s: float = 30.0
    by_model: dict[str, Breaker] = field(default_factory=dict)

    def get(self, model: str) -> Breaker:
        """The model's breaker (created closed)."""
        breaker = self.by_model.get(model)
        if breaker is None:
            breaker = self.by_model[model] = Breaker(model, self.threshold, self.cooldown_s)
        return breaker


@dataclass(frozen=True)
class BudgetScope:
    """A cap: `scope` is `session` or a step path whose subtree it covers."""

    scope: str
    limit_usd: float


@dataclass(frozen=True)
class BudgetVerdict:
    """Why a call may not be sent: which cap, what is spent and reserved, what it would cost."""

    scope: str
    limit_usd: float
    spent_usd: float
    forecast_usd: float


def under(path: str, scope: str) -> bool:
    """Is step `path` inside `scope` (a step path, or the whole session)?"""
    return scope == "session" or inside(path, scope)


@dataclass
class Ledger:
    """USD spent and reserved per step path. A call reserves its forecast before it is sent, so
    concurrent branches cannot jointly pass a cap; the reservation becomes the actual cost at the end."""

    spent: dict[str, float] = field(default_factory=dict)
    reserved: dict[str, float] = field(default_factory=dict)

    def used(self, scope: str) -> float:
        """Spent plus reserved inside `scope`."""
        return sum(v for p, v in self.spent.items() if under(p, scope)) + sum(
            v for p, v in self.reserved.items() if under(p, scope)
        )

    def check(self, caps: list[BudgetScope], forecast_high: float | None) -> BudgetVerdict | None:
        """The first cap the call could pass (an unknown price could pass any cap)."""
        for cap in caps:
            used = self.used(cap.scope)
            if forecast_high is None or used + forecast_high > cap.limit_usd + 1e-12:
                return BudgetVerdict(cap.scope, cap.limit_usd, used, forecast_high or 0.0)
        return None

    def reserve(self, path: str, amount: float) -> Callable[[float | None], None]:
        """Reserve `amount` for a call of step `path`; the returned function settles the actual cost."""
        self.reserved[path] = self.reserved.get(path, 0.0) + amount
        settled = False

        def settle(actual: float | None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            self.reserved[path] = max(0.0, self.reserved.get(path, 0.0) - amount)
            if actual:
                self.add(path, actual)

        return settle

    def add(self, path: str, amount: float) -> None:
        """Record spending by a step."""
        self.spent[path] = self.spent.get(path, 0.0) + amount


def scopes_for(path: str, caps: dict[str, float], session_cap: float | None) -> list[BudgetScope]:
    """Caps covering a step path: the session's and every enclosing step's that has a budget."""
    out = [BudgetScope("session", session_cap)] if session_cap is not None else []
    out += [BudgetScope(scope, limit) for scope, limit in caps.items() if under(path, scope)]
    return out


def backoff(attempt: int, schedule: list[float], jitter: bool, uniform: Callable[[float, float], float]) -> float:
    """Wait before retry `attempt` (1-based): the schedule's entry, with full jitter when enabled."""
    base = schedule[min(attempt - 1, len(schedule) - 1)] if schedule else 1.0
    return uniform(0.0, base) if jitter else base
