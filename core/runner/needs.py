"""What skipping a step would take away: the keys it would write that a step after it still needs.

A person may skip a step only where nothing later depends on its writes, or by supplying those values
themselves. "Later" follows the step's place in the workflow: later siblings in a sequence, every step of
a loop (the next iteration and the judge run after it), a supervisor's synthesis, then the top-level
steps after its top-level ancestor. Branches of a parallel step and map items run beside it on their own
copy of the state, so they never need it; a sibling branch that is certain to write the same key covers
it at fan-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baton.core import expr
from baton.core.spec.flow import needed_reads
from baton.core.spec.graph import all_writes, children, guaranteed_writes, iter_steps
from baton.core.spec.model import LoopStep, MapStep, ParallelStep, SequenceStep, Step, SupervisorStep, WorkflowSpec


def step_id(segment: str) -> str:
    """The workflow step id in a path segment (`each[3]` → each, `refine#2` → refine)."""
    return segment.split("[", 1)[0].split("#", 1)[0]


def chain(spec: WorkflowSpec, path: str) -> list[tuple[Step, Step | None]]:
    """The steps from the top-level ancestor down to the step at `path`, each with its parent.

    A map item (`each[3]`) resolves to the map's template step. A path that names no step (a
    supervisor's `manager`, which writes nothing) gives an empty chain.
    """
    segments = path.split("/")
    top = {s.id: s for s in spec.steps}.get(step_id(segments[0]))
    if top is None:
        return []
    out: list[tuple[Step, Step | None]] = [(top, None)]
    if "[" in segments[0] and isinstance(top, MapStep):
        out.append((top.step, top))
    for segment in segments[1:]:
        parent = out[-1][0]
        child = next((c for c in children(parent) if c.id == step_id(segment)), None)
        if child is None:
            return []
        out.append((child, parent))
        if "[" in segment and isinstance(child, MapStep):
            out.append((child.step, child))
    return out


def skip_needs(spec: WorkflowSpec, state: Mapping[str, Any], path: str) -> list[str]:
    """Keys the step at `path` would certainly write, that the state lacks and a later step needs."""
    steps = chain(spec, path)
    if not steps:
        return []
    have = {k for k, v in state.items() if v is not None}
    missing = guaranteed_writes(steps[-1][0]) - have
    needed: set[str] = set()
    for child, parent in reversed(steps[1:]):
        if isinstance(parent, ParallelStep):
            for branch in parent.branches:
                if branch is not child:
                    missing -= guaranteed_writes(branch)
        elif isinstance(parent, SupervisorStep):
            if parent.synthesis is not None and child is not parent.synthesis:
                needed |= needed_reads(parent.synthesis)
        elif isinstance(parent, LoopStep):
            for sibling in children(parent):
                needed |= needed_reads(sibling)
            if parent.until is not None:
                needed |= expr.names_in(parent.until)
        elif isinstance(parent, SequenceStep):
            after = False
            for sibling in parent.steps:
                if after:
                    needed |= needed_reads(sibling)
                after = after or sibling is child
    if not missing:
        return []
    top = steps[0][0]
    position = next(i for i, s in enumerate(spec.steps) if s is top)
    for later in spec.steps[position + 1 :]:
        needed |= needed_reads(later)
    return sorted(missing & needed)


def writes_of(spec: WorkflowSpec, path: str) -> set[str]:
    """Every state key the step at `path` (and its children) may write: what a skip may supply."""
    steps = chain(spec, path)
    if steps:
        return all_writes(steps[-1][0])
    name = step_id(path.rsplit("/", 1)[-1])
    for info in iter_steps(spec):
        if info.step.id == name:
            return all_writes(info.step)
    return set()
