"""The shape of a workflow: every step with its path and parent, and the top-level flow graph.

Used by the load-time checks and by the runner (reroute targets, steps a jump passes over).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from baton.core.spec.model import (
    END,
    AgentStep,
    LoopStep,
    MapStep,
    ParallelStep,
    RouterStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)

PLACEHOLDER_RE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")

DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class StepInfo:
    """A step with where it sits: `role` is top, branch, item, worker, manager, synthesis, body, judge."""

    step: Step
    data_path: DataPath
    parent: str | None
    role: str
    top_index: int
    variables: tuple[str, ...] = ()
    """Template names besides reads: a map item's `as` name and `index`."""


def iter_steps(spec: WorkflowSpec) -> Iterator[StepInfo]:
    """Every step of the workflow, depth first, parents before children."""
    for index, step in enumerate(spec.steps):
        yield from _walk(step, ("steps", index), None, "top", index)


def _walk(
    step: Step, path: DataPath, parent: str | None, role: str, top: int, variables: tuple[str, ...] = ()
) -> Iterator[StepInfo]:
    yield StepInfo(step, path, parent, role, top, variables)
    if isinstance(step, ParallelStep):
        for i, child in enumerate(step.branches):
            yield from _walk(child, (*path, "branches", i), step.id, "branch", top)
    elif isinstance(step, MapStep):
        yield from _walk(step.step, (*path, "step"), step.id, "item", top, (step.item, "index"))
    elif isinstance(step, SupervisorStep):
        for i, child in enumerate(step.workers):
            yield from _walk(child, (*path, "workers", i), step.id, "worker", top)
        if step.synthesis is not None:
            yield from _walk(step.synthesis, (*path, "synthesis"), step.id, "synthesis", top)
    elif isinstance(step, LoopStep):
        for i, child in enumerate(step.steps):
            yield from _walk(child, (*path, "steps", i), step.id, "body", top)
        if step.judge is not None:
            yield from _walk(step.judge, (*path, "judge"), step.id, "judge", top)
    elif isinstance(step, SequenceStep):
        for i, child in enumerate(step.steps):
            yield from _walk(child, (*path, "steps", i), step.id, "body", top)


def children(step: Step) -> list[Step]:
    """Direct child steps of a composite step."""
    if isinstance(step, ParallelStep):
        return list(step.branches)
    if isinstance(step, MapStep):
        return [step.step]
    if isinstance(step, SupervisorStep):
        return [*step.workers, *([step.synthesis] if step.synthesis else [])]
    if isinstance(step, LoopStep | SequenceStep):
        extra = [step.judge] if isinstance(step, LoopStep) and step.judge else []
        return [*step.steps, *extra]
    return []


def all_writes(step: Step) -> set[str]:
    """Every key a step or any of its children may write."""
    out = set(step.writes)
    for child in children(step):
        out |= all_writes(child)
    return out


def guaranteed_writes(step: Step) -> set[str]:
    """Keys certainly written once the step completes (a supervisor's workers may not run)."""
    if isinstance(step, SupervisorStep):
        out = set(step.writes)
        if step.synthesis is not None:
            out |= guaranteed_writes(step.synthesis)
        return out
    if isinstance(step, MapStep):
        return set(step.writes) | guaranteed_writes(step.step)
    out = set(step.writes)
    for child in children(step):
        out |= guaranteed_writes(child)
    return out


def successors(spec: WorkflowSpec, index: int) -> list[str]:
    """Top-level step ids (or `end`) control can go to after step `index`."""
    step = spec.steps[index]
    if isinstance(step, RouterStep):
        return list(dict.fromkeys(step.routes.values()))
    if step.next is not None:
        return [step.next]
    return [spec.steps[index + 1].id] if index + 1 < len(spec.steps) else [END]


def top_index(spec: WorkflowSpec) -> dict[str, int]:
    """Top-level step id → position."""
    return {step.id: i for i, step in enumerate(spec.steps)}


def placeholders(template: str) -> list[str]:
    """Names used as `{name}` in a template (`{{` and `}}` are literal braces)."""
    return PLACEHOLDER_RE.findall(template)


def is_agent_like(step: Step) -> bool:
    """Steps that make a single model call of their own."""
    return isinstance(step, AgentStep | RouterStep)
