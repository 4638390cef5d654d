"""Where control may go, and what leaving a step takes away: pure functions over the spec and the state.

- Reroute targets: the later top-level steps a person may jump to, whose reads are all satisfied.
- Jumps: a router's choice or a person's reroute passes over steps; each is recorded as skipped.
- Skip needs: the keys a skipped step would have written that a later step still needs, so a person
  supplies them. "Later" follows the step's place in the workflow: later siblings in a sequence, every
  step of a loop (the next iteration and the judge run after it), a supervisor's synthesis, then the
  top-level steps after its top-level ancestor. Branches of a parallel step and map items run beside it
  on their own copy of the state, so they never need it; a sibling branch that is certain to write the
  same key covers it at fan-in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.spec.flow import needed_reads, unmet_from
from baton.core.spec.graph import all_writes, children, guaranteed_writes, iter_steps, successors, top_index
from baton.core.spec.model import (
    END,
    LoopStep,
    MapStep,
    ParallelStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)
from baton.core.step_path import StepPath


def present(state: Mapping[str, Any]) -> set[str]:
    """State keys that hold a value."""
    return {k for k, v in state.items() if v is not None}


def reroute_targets(spec: WorkflowSpec, state: Mapping[str, Any], path: str, ran: bool = True) -> list[str]:
    """Top-level steps a person may jump to from `path`: forward, and with every read satisfied — by the
    state and, when the step has run (`ran`), its own writes. Empty for a step that is not top-level."""
    index = top_index(spec)
    i = index.get(path)
    if i is None:
        return []
    step = spec.steps[i]
    candidates = step.reroute if step.reroute is not None else [s.id for s in spec.steps[i + 1 :]] + [END]
    default = set(successors(spec, i))
    have = present(state)
    if ran:
        have |= guaranteed_writes(step)
    out = []
    for target in candidates:
        if target in default and step.reroute is None:
            continue
        if target == END:
            out.append(END)
            continue
        j = index.get(target)
        if j is not None and j > i and not unmet_from(spec, j, have):
            out.append(target)
    return out


def jump(
    spec: WorkflowSpec, finished: Collection[str], path: str, target: str, output: Any, by: str
) -> tuple[list[ev.Event], list[str]]:
    """The record of control moving from top-level step `path` to `target`: a `Rerouted` event and a
    `StepSkipped` for every step it passes over that has not finished. Returns (events, passed over)."""
    index = top_index(spec)
    i = index.get(path)
    if i is None:
        return [], []
    j = len(spec.steps) if target == END else index[target]
    passed = [s.id for s in spec.steps[i + 1 : j] if s.id not in finished]
    route = str(output.get("route", "")) if isinstance(output, dict) else ""
    reason = str(output.get("reason", "")) if isinstance(output, dict) else ""
    events: list[ev.Event] = [ev.Rerouted(step=path, target=target, route=route, reason=reason, by=by, skipped=passed)]
    how = f"route '{route}'" if route and by == "router" else f"{by} rerouted"
    events += [ev.StepSkipped(step=s, reason=f"passed over: {how} from '{path}' to '{target}'") for s in passed]
    return events, passed


def next_step(spec: WorkflowSpec, path: str, target: str | None) -> Step | None:
    """The top-level step that runs after `path` (a top-level step, or one nested in it), given the
    target it jumps to (if any)."""
    top = StepPath(path).top
    index = top_index(spec)
    if top not in index:
        return None
    after = (target if top == path else None) or successors(spec, index[top])[0]
    if after == END or after not in index:
        return None
    return spec.steps[index[after]]


def chain(spec: WorkflowSpec, path: str) -> list[tuple[Step, Step | None]]:
    """The steps from the top-level ancestor down to the step at `path`, each with its parent.

    A map item (`each[3]`) resolves to the map's template step. A path that names no step (a
    supervisor's `manager`, which writes nothing) gives an empty chain.
    """
    segments = StepPath(path).segments
    if not segments:
        return []
    top = {s.id: s for s in spec.steps}.get(segments[0].id)
    if top is None:
        return []
    out: list[tuple[Step, Step | None]] = [(top, None)]
    if segments[0].item is not None and isinstance(top, MapStep):
        out.append((top.step, top))
    for segment in segments[1:]:
        parent = out[-1][0]
        child = next((c for c in children(parent) if c.id == segment.id), None)
        if child is None:
            return []
        out.append((child, parent))
        if segment.item is not None and isinstance(child, MapStep):
            out.append((child.step, child))
    return out


def skip_needs(spec: WorkflowSpec, state: Mapping[str, Any], path: str) -> list[str]:
    """Keys the step at `path` would certainly write, that the state lacks and a later step needs."""
    steps = chain(spec, path)
    if not steps:
        return []
    missing = guaranteed_writes(steps[-1][0]) - present(state)
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
    name = StepPath(path).id
    for info in iter_steps(spec):
        if info.step.id == name:
            return all_writes(info.step)
    return set()
