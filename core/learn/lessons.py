"""Lessons: what a person said when they rejected a step's answer, kept for the step's later runs.

A lesson belongs to a workflow and a step *template* (`refine#2/write` → `refine/write`, `each[3]` →
`each`): every item of a map and every iteration of a loop shares its step's lessons. Lessons are derived
from the record (each reject-with-feedback at a review) and overlaid with what a person changed (an edit,
a removal, a lesson added by hand), which the store keeps as `LessonEdit` rows.

A step that says `learn: true` gets its active lessons in its system prompt. Which ones a session uses is
fixed when it starts and recorded with it (`pinned`), so a resume, a fork or a replay sends the same
prompt — and the same request hash — whatever the lessons are by then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from baton.core import events as ev
from baton.core.spec.model import (
    AgentStep,
    LoopStep,
    MapStep,
    ParallelStep,
    SequenceStep,
    Step,
    SupervisorStep,
    WorkflowSpec,
)
from baton.core.step_path import StepPath

NOT_ANSWERS = ("tool_call",)
"""Checkpoint reasons whose rejection is not about a step's answer (a tool call's feedback goes to the model)."""


@dataclass(frozen=True)
class LessonEdit:
    """What a person did to a lesson: a new text, a removal, or a lesson of their own (`source` 'added')."""

    id: str
    workflow: str
    step: str
    text: str
    source: str = "added"
    """'added' for a lesson written by hand, else `SESSION:SEQ` of the decision it came from."""
    deleted: bool = False
    by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Lesson:
    """One lesson as listed: `edited` when a person changed its text, `deleted` when they removed it."""

    id: str
    workflow: str
    step: str
    text: str
    source: str
    by: str = ""
    created_at: float = 0.0
    edited: bool = False
    deleted: bool = False

    def record(self) -> dict[str, Any]:
        """The lesson as `--json` and a session's record show it."""
        return {
            "id": self.id,
            "workflow": self.workflow,
            "step": self.step,
            "text": self.text,
            "source": self.source,
            "by": self.by,
            "created_at": round(self.created_at, 3),
            "edited": self.edited,
            "deleted": self.deleted,
        }


def template(path: str) -> str:
    """A step path without item and iteration marks: the key lessons and routes are counted by."""
    return "/".join(segment.id for segment in StepPath(path).segments)


def derived_id(session_id: str, seq: int) -> str:
    """The stable id of the lesson a session's decision at `seq` gave."""
    return hashlib.sha256(f"{session_id}:{seq}".encode()).hexdigest()[:8]


def added_id(workflow: str, step: str, text: str, at: float) -> str:
    """The id of a lesson a person adds."""
    return hashlib.sha256(f"{workflow}\0{step}\0{text}\0{at!r}".encode()).hexdigest()[:8]


def from_decisions(workflow: str, session_id: str, envelopes: Iterable[ev.Envelope]) -> list[Lesson]:
    """The lessons of one session: each rejection of an answer that came with feedback."""
    reasons: dict[str, str] = {}
    out = []
    for env in envelopes:
        e = env.event
        if isinstance(e, ev.CheckpointOpened):
            reasons[e.checkpoint_id] = e.reason
        elif isinstance(e, ev.DecisionMade) and e.decision == "reject" and e.feedback.strip() and e.step:
            if reasons.get(e.checkpoint_id, "") in NOT_ANSWERS:
                continue
            out.append(
                Lesson(
                    id=derived_id(session_id, env.seq),
                    workflow=workflow,
                    step=template(e.step),
                    text=e.feedback.strip(),
                    source=f"{session_id}:{env.seq}",
                    by=e.by,
                    created_at=env.ts,
                )
            )
    return out


def overlay(derived: Iterable[Lesson], edits: Iterable[LessonEdit]) -> list[Lesson]:
    """Derived lessons with a person's edits applied and their own lessons added, oldest first."""
    by_id = {lesson.id: lesson for lesson in derived}
    for edit in edits:
        base = by_id.get(edit.id)
        if base is None:
            by_id[edit.id] = Lesson(
                edit.id, edit.workflow, edit.step, edit.text, edit.source, edit.by, edit.created_at, False, edit.deleted
            )
        else:
            by_id[edit.id] = replace(base, text=edit.text, edited=edit.text != base.text, deleted=edit.deleted)
    return sorted(by_id.values(), key=lambda lesson: (lesson.created_at, lesson.id))


def learning_steps(spec: WorkflowSpec) -> set[str]:
    """Templates of the steps that say `learn: true`."""
    return {at for at, step in step_templates(spec).items() if isinstance(step, AgentStep) and step.learn}


def step_templates(spec: WorkflowSpec) -> dict[str, Step]:
    """Every step by the template of the paths it runs at (a map's item step at the map's own)."""
    found: dict[str, Step] = {}
    for step in spec.steps:
        _walk(step, step.id, found)
    return found


def _walk(step: Step, at: str, found: dict[str, Step]) -> None:
    found[at] = step  # a map's item step runs at the map's own path, and is the one that calls a model
    children: list[tuple[Step, str]] = []
    if isinstance(step, ParallelStep):
        children = [(child, f"{at}/{child.id}") for child in step.branches]
    elif isinstance(step, MapStep):
        children = [(step.step, at)]
    elif isinstance(step, SupervisorStep):
        children = [(w, f"{at}/{w.id}") for w in step.workers]
        if step.synthesis is not None:
            children.append((step.synthesis, f"{at}/{step.synthesis.id}"))
    elif isinstance(step, LoopStep):
        children = [(child, f"{at}/{child.id}") for child in step.steps]
        if step.judge is not None:
            children.append((step.judge, f"{at}/{step.judge.id}"))
    elif isinstance(step, SequenceStep):
        children = [(child, f"{at}/{child.id}") for child in step.steps]
    for child, path in children:
        _walk(child, path, found)


def to_pin(spec: WorkflowSpec, workflow: str, lessons: Iterable[Lesson]) -> dict[str, list[dict[str, str]]]:
    """What a starting session records: per learning step, its active lessons (id and text)."""
    steps = learning_steps(spec)
    out: dict[str, list[dict[str, str]]] = {}
    for lesson in lessons:
        if lesson.workflow == workflow and lesson.step in steps and not lesson.deleted and lesson.text.strip():
            out.setdefault(lesson.step, []).append({"id": lesson.id, "text": lesson.text})
    return out


def pinned(
    started_options: Mapping[str, Any] | None, given: Mapping[str, Any] | None
) -> dict[str, list[dict[str, str]]]:
    """The lessons a run uses: those its session recorded when it started (a resume, a fork, a replay) or,
    for a session starting now, those it is given. Anything malformed in a record is left out."""
    records: Any = started_options.get("lessons") if started_options is not None else given
    out: dict[str, list[dict[str, str]]] = {}
    if not isinstance(records, Mapping):
        return out
    for step, items in records.items():
        if not isinstance(step, str) or not isinstance(items, Sequence):
            continue
        kept = [
            {"id": str(item["id"]), "text": str(item["text"])}
            for item in items
            if isinstance(item, Mapping) and "id" in item and isinstance(item.get("text"), str)
        ]
        if kept:
            out[step] = kept
    return out


class StepLessons:
    """The lessons of one run, looked up by a call's step path."""

    def __init__(self, lessons: Mapping[str, list[dict[str, str]]]) -> None:
        self.by_step = dict(lessons)

    def of(self, path: str) -> list[dict[str, str]]:
        """The lessons a call at `path` gets (none when its step does not learn)."""
        if not self.by_step:
            return []
        return self.by_step.get(template(path), [])

    def ids(self, path: str) -> list[str]:
        """The ids of those lessons, as the call's record names them."""
        return [item["id"] for item in self.of(path)]
