"""Review after a model answered: `review: always | on_failure | {when: …} | {sample: …}`.

The person sees the output, its reasoning, the call that made it and the step's totals so far, and what
the next step will cost with this output accepted. Approve, edit (validated like the model's answer),
reroute, skip, reject with feedback (the step runs again with it and the review opens again on the new
output, up to `max_rejections`), or run it again on another model.

`context["call"]` holds the figures of the call being reviewed (the accepted call's model, alias,
tokens, cost and latency); `context["step"]` the step's totals over every round and attempt; the flat
keys `model`, `tokens_in`, `tokens_out`, `cost_usd` and `latency_s` repeat the call's figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.runner.call_plan import CallResult
from baton.core.runner.checkpoints import Ask, Edit
from baton.core.runner.gates.base import Accept, Gate, Rerun, Verdict
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import ReviewSpec

OPTIONS = ["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]


def review_reason(
    session_id: str, review: ReviewSpec, path: str, output: Any, env: Mapping[str, Any], degraded: bool
) -> str | None:
    """Why a person must look at this output (review, on_failure, confidence, sample), or None."""
    if review.mode == "always":
        return "review"
    if review.mode == "on_failure" and degraded:
        return "on_failure"
    if review.when:
        names = {**env, **(output if isinstance(output, dict) else {})}
        try:
            if expr.parse(review.when).evaluate(names):
                return "confidence"
        except expr.ExprError:
            return "confidence"
    if review.sample:
        digest = hashlib.sha256(f"{session_id}:{path}:sample".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 < review.sample:
            return "sample"
    return None


def review_message(reason: str, review: ReviewSpec, path: str) -> str:
    """The line that says why this review opened."""
    if reason == "confidence":
        return f"review because {review.when}"
    if reason == "sample":
        return f"random audit ({(review.sample or 0):.0%} of runs)"
    if reason == "on_failure":
        return "the answer came from a fallback: check it"
    if reason == "max_turns":
        return f"'{path}' used all its turns without a final answer: accept its last text, edit it, or reject"
    return f"review the output of '{path}'"


def reasoning_of(output: Any) -> str:
    """The model's stated reasoning in a structured output, if it gave one."""
    if isinstance(output, dict):
        for key in ("reason", "reasoning", "rationale", "feedback"):
            if isinstance(output.get(key), str):
                return str(output[key])
    return ""


@dataclass
class StepTotals:
    """A model step's tokens, cost and calls over every round and attempt."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0
    calls: int = 0

    def add(self, result: CallResult) -> None:
        """Count a call's attempts."""
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.calls += result.attempts
        if result.cost_usd is None or self.cost is None:
            self.cost = None
        else:
            self.cost += result.cost_usd

    def figures(self) -> dict[str, Any]:
        """As shown at a review (`context["step"]`)."""
        return {"tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "cost_usd": self.cost, "calls": self.calls}


def call_figures(result: CallResult | None, alias: str) -> dict[str, Any]:
    """The reviewed call's own figures (`context["call"]`); a static fallback made no call."""
    finished = result.finished if result is not None else None
    if finished is None:
        return {"model": "", "alias": alias, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "latency_s": None}
    return {
        "model": finished.model,
        "alias": finished.alias,
        "tokens_in": finished.tokens_in,
        "tokens_out": finished.tokens_out,
        "cost_usd": finished.cost_usd,
        "latency_s": round(finished.latency_s, 3),
    }


def review_context(
    reads: Mapping[str, Any], prompt: str, result: CallResult | None, totals: StepTotals, alias: str
) -> dict[str, Any]:
    """What a reviewer reads besides the output: the reads, the prompt, the call, the step's totals."""
    call = call_figures(result, alias)
    return {
        "reads": dict(reads),
        "prompt": prompt,
        "model": call["alias"],
        "tokens_in": call["tokens_in"],
        "tokens_out": call["tokens_out"],
        "cost_usd": call["cost_usd"],
        "latency_s": call["latency_s"],
        "attempts": result.attempts if result else 0,
        "retries": max(0, (result.attempts if result else 0) - 1),
        "degraded": bool(result and result.degraded),
        "call": call,
        "step": totals.figures(),
    }


@dataclass
class Review(Gate):
    """A person looks at a model's output before the step completes."""

    path: str
    reason: str
    round: int
    output: Any
    message: str
    context: dict[str, Any]
    forecasts: dict[str, Any]
    can_reject: bool
    can_reroute: bool
    edit: Edit
    to_jump: Callable[[Any], str | None]
    pre_events: list[ev.Event] = field(default_factory=list)

    def ask(self, rt: Runtime) -> Ask:
        targets = rt.reroute_targets(self.path) if self.can_reroute else []
        options = [
            o for o in OPTIONS if not (o == "reject" and not self.can_reject) and not (o == "reroute" and not targets)
        ]
        return Ask(
            self.path,
            self.reason,
            message=self.message,
            output=self.output,
            reasoning=reasoning_of(self.output),
            context=self.context,
            options=options,
            targets=targets,
            forecasts=self.forecasts,
            round=self.round,
            edit=self.edit,
            skip_needs=rt.skip_needs(self.path),
            pre_events=self.pre_events,
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        kind = decision.decision
        if kind == "approve":
            return Accept(decision, self.output, jump=self.to_jump(self.output))
        if kind == "edit":
            return Accept(decision, decision.edited, jump=self.to_jump(decision.edited))
        if kind == "reroute":
            return Accept(decision, self.output, jump=decision.target, jump_by=decision.by)
        if kind == "reject":
            return Rerun(decision, feedback=decision.feedback)
        if kind == "retry_model":
            return Rerun(decision, model=decision.model)
        return super().apply(decision)
