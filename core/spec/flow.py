"""Which keys are certainly available where: the must-analysis over the top-level DAG.

Used at load time (every read is written on every path before it) and at run time (which steps a
person may reroute to, and which values a skipped step must be replaced with).
"""

from __future__ import annotations

from baton.core import expr
from baton.core.spec.graph import guaranteed_writes, successors, top_index
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


def propagate(spec: WorkflowSpec, start: int, have: set[str]) -> dict[int, set[str]]:
    """Keys available on entry to each top-level step reachable from `start` (intersection over paths)."""
    index = top_index(spec)
    avail: dict[int, set[str]] = {start: set(have)}
    for i in range(start, len(spec.steps)):
        if i not in avail:
            continue
        after = avail[i] | guaranteed_writes(spec.steps[i])
        for target in successors(spec, i):
            if target == END or target not in index:
                continue
            j = index[target]
            avail[j] = set(after) if j not in avail else avail[j] & after
    return avail


def needed_reads(step: Step) -> set[str]:
    """Keys a step needs from before it: its own non-optional reads and its children's, minus what
    earlier children of a sequential composite write."""
    own = set(step.read_keys) - step.optional_reads
    if isinstance(step, ParallelStep):
        for branch in step.branches:
            own |= needed_reads(branch)
    elif isinstance(step, MapStep):
        own |= {step.over} | needed_reads(step.step)
    elif isinstance(step, SupervisorStep):
        for worker in step.workers:
            own |= needed_reads(worker)
        if step.synthesis is not None:
            own |= needed_reads(step.synthesis)
    elif isinstance(step, LoopStep | SequenceStep):
        written: set[str] = set()
        for child in step.steps:
            own |= needed_reads(child) - written
            written |= guaranteed_writes(child)
        if isinstance(step, LoopStep) and step.judge is not None:
            own |= needed_reads(step.judge) - written
            written |= guaranteed_writes(step.judge)
        if isinstance(step, LoopStep) and step.until is not None:
            own |= expr.names_in(step.until) - written
    return own


def unmet_from(spec: WorkflowSpec, start: int, have: set[str]) -> list[tuple[str, str]]:
    """(step id, key) pairs a run starting at top-level step `start` with keys `have` could not satisfy."""
    out = []
    for i, keys in sorted(propagate(spec, start, have).items()):
        for key in sorted(needed_reads(spec.steps[i]) - keys):
            out.append((spec.steps[i].id, key))
    return out
