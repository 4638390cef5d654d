"""How many children of a fan-out step run at once, and what caps it.

A map, a parallel step or a supervisor asks for `concurrency`; every model call of the run also waits for
one of `defaults.concurrency` slots. So a fan-out whose children call models runs at most
`defaults.concurrency` of them at a time, whatever it asks for. One function says so for the load-time
warning and for the runner, which reports it on the step's start.
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.core.spec.graph import children
from baton.core.spec.model import MapStep, ParallelStep, Step, SupervisorStep, WorkflowSpec
from baton.core.spec.model_refs import step_aliases

CAP_SETTING = "defaults.concurrency"


@dataclass(frozen=True)
class FanOut:
    """`asked`: the step's own concurrency (None: all children at once); `at_once`: how many really run at
    once; `capped_by`: the setting that lowered it, or empty."""

    asked: int | None
    at_once: int
    capped_by: str = ""


def fan_out(spec: WorkflowSpec, step: Step) -> FanOut | None:
    """The concurrency of a fan-out step (None for any other kind)."""
    if not isinstance(step, MapStep | ParallelStep | SupervisorStep):
        return None
    asked: int | None = step.concurrency
    width = asked if asked is not None else len(children(step))
    limit = spec.defaults.concurrency
    if width > limit and any(step_aliases(spec, child) for child in children(step)):
        return FanOut(asked, limit, CAP_SETTING)
    return FanOut(asked, width)
