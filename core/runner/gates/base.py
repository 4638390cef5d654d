"""The one shape of a checkpoint: a gate says what is shown and which decisions are allowed (`ask`), and
what each decision does (`apply`), as one of five verdicts a step's drive loop follows.

- `Proceed`: go on with the step, perhaps changed (another model, an edited prompt, edited arguments or
  inputs, past a budget);
- `Skip`: the step does not run (values a person supplied stand in for its writes);
- `Jump`: skip it and continue at another top-level step;
- `Accept`: this is the step's output (approved, edited, or supplied by a person);
- `Rerun`: run the step again (with a reviewer's feedback, or on another model).

Opening, waiting, validating and recording belong to the checkpoint inbox; unattended answers follow
the gate's `Unattended` rule when it has one. A new kind of checkpoint is one new gate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask
from baton.core.runner.runtime import Runtime


@dataclass(frozen=True)
class Proceed:
    """Go on with the step; each field that is set changes how."""

    decision: ev.DecisionMade
    model: str | None = None
    """Run on this model alias from now on."""
    prompt: str | None = None
    """The next call's prompt, as a person edited it."""
    step_prompt: str | None = None
    """The step's prompt from now on (edited before the step ran)."""
    args: dict[str, Any] | None = None
    """A tool's arguments, as a person edited them."""
    values: dict[str, Any] | None = None
    """Input values a person supplied in place of ones that failed their check."""
    past_budget: bool = False
    """Send the next call although it could pass a budget."""


@dataclass(frozen=True)
class Skip:
    """The step does not run; `degraded` when it was skipped after failing."""

    decision: ev.DecisionMade
    degraded: bool = False


@dataclass(frozen=True)
class Jump:
    """Skip the step and continue at top-level step `target`."""

    decision: ev.DecisionMade
    target: str


@dataclass(frozen=True)
class Accept:
    """This is the step's output; `jump` sends control elsewhere (a reroute, a router's route)."""

    decision: ev.DecisionMade
    output: Any
    jump: str | None = None
    jump_by: str = ""
    writes: dict[str, Any] | None = None
    """What the step writes, when the gate says (else the step derives it from `output`)."""


@dataclass(frozen=True)
class Rerun:
    """Run the step again: with `feedback` on its last output (a rejection), or on `model`."""

    decision: ev.DecisionMade
    feedback: str | None = None
    model: str | None = None


Verdict = Proceed | Skip | Jump | Accept | Rerun


class Gate(ABC):
    """One kind of checkpoint at one step path."""

    path: str
    degrades_on_skip = False
    """Skipping here accepts a failure: the step (and the session) is marked degraded."""

    @abstractmethod
    def ask(self, rt: Runtime) -> Ask:
        """What the person sees and may decide."""

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        """What a decision does. The decisions every gate means the same by are handled here; a gate
        overrides this for the ones particular to it and hands the rest back."""
        if decision.decision == "skip":
            return Skip(decision, degraded=self.degrades_on_skip)
        if decision.decision == "reroute":
            return Jump(decision, decision.target)
        if decision.decision == "retry_model":
            return Proceed(decision, model=decision.model)
        return Proceed(decision)


async def pass_gate(rt: Runtime, gate: Gate) -> Verdict:
    """Ask at a gate (or find its recorded decision) and return what the decision does."""
    decision = await rt.checkpoints.ask(gate.ask(rt))
    return gate.apply(decision)


def before_options(rt: Runtime, path: str, can_reroute: bool, *middle: str) -> tuple[list[str], list[str]]:
    """Options and reroute targets of a checkpoint before a step runs: approve, `middle`, skip, pause,
    and reroute when the step is top-level and has somewhere to go (its own writes will not exist)."""
    targets = rt.reroute_targets(path, ran=False) if can_reroute else []
    return ["approve", *middle, "skip", "pause"] + (["reroute"] if targets else []), targets
