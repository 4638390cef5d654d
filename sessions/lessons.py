"""Lessons in a store: derived from every session's decisions, overlaid with what people changed.

A person edits, removes or adds lessons (`baton lessons`, the TUI's Lessons screen); each change is one
`lessons` row, so everyone using the store sees it. Nothing a session recorded is ever changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from baton.core.learn.lessons import Lesson, LessonEdit, added_id, from_decisions, learning_steps, overlay, to_pin
from baton.core.spec.model import WorkflowSpec
from baton.sessions.errors import StoreError
from baton.sessions.interface import SessionStore
from baton.sessions.records import SessionRow

SESSION_SCAN = 100_000
"""The most sessions one listing reads (newest first)."""


async def decided_sessions(store: SessionStore, workflow: str | None = None) -> list[SessionRow]:
    """Sessions (of one workflow, or all) in which a person decided at least once, oldest first."""
    decided = {c.session_id for c in await store.checkpoints(None) if c.decision}
    rows = [
        row
        for row in await store.sessions(SESSION_SCAN)
        if row.id in decided and (workflow is None or row.workflow == workflow)
    ]
    return sorted(rows, key=lambda row: (row.created_at, row.id))


async def lessons(store: SessionStore, workflow: str | None = None, *, deleted: bool = False) -> list[Lesson]:
    """The lessons of one workflow (or all), oldest first; removed ones only when `deleted`."""
    derived: list[Lesson] = []
    for row in await decided_sessions(store, workflow):
        derived.extend(from_decisions(row.workflow, row.id, await store.events(row.id)))
    listed = overlay(derived, await store.lesson_edits(workflow))
    return [lesson for lesson in listed if deleted or not lesson.deleted]


def find(listed: Iterable[Lesson], prefix: str) -> Lesson:
    """The lesson whose id is `prefix` or starts with it (unique)."""
    matches = [lesson for lesson in listed if lesson.id == prefix]
    if not matches:
        matches = [lesson for lesson in listed if prefix and lesson.id.startswith(prefix)]
    if not matches:
        raise StoreError(f"no lesson '{prefix}' (see `baton lessons`)")
    if len(matches) > 1:
        raise StoreError(f"'{prefix}' names {len(matches)} lessons: give more of the id")
    return matches[0]


async def add_lesson(store: SessionStore, workflow: str, step: str, text: str, by: str) -> Lesson:
    """A lesson a person writes for a step of a workflow."""
    text = text.strip()
    if not text:
        raise StoreError("a lesson needs a text")
    now = store.clock()
    edit = LessonEdit(added_id(workflow, step, text, now), workflow, step, text, "added", False, by, now, now)
    await store.save_lesson_edit(edit)
    return find(await lessons(store, workflow), edit.id)


async def edit_lesson(store: SessionStore, lesson_id: str, text: str, by: str) -> Lesson:
    """A lesson with a new text (a person's words replace the reviewer's)."""
    text = text.strip()
    if not text:
        raise StoreError("a lesson needs a text (to remove it: `baton lessons rm ID`)")
    lesson = find(await lessons(store), lesson_id)
    await store.save_lesson_edit(_edit(store, lesson, text=text, deleted=False, by=by))
    return find(await lessons(store, lesson.workflow), lesson.id)


async def remove_lesson(store: SessionStore, lesson_id: str, by: str) -> Lesson:
    """Remove a lesson: later runs no longer get it (the decision it came from stays recorded)."""
    lesson = find(await lessons(store), lesson_id)
    await store.save_lesson_edit(_edit(store, lesson, text=lesson.text, deleted=True, by=by))
    return lesson


def _edit(store: SessionStore, lesson: Lesson, *, text: str, deleted: bool, by: str) -> LessonEdit:
    now = store.clock()
    created = lesson.created_at or now
    return LessonEdit(lesson.id, lesson.workflow, lesson.step, text, lesson.source, deleted, by, created, now)


async def lessons_to_pin(store: SessionStore, spec: WorkflowSpec, workflow: str) -> dict[str, list[dict[str, str]]]:
    """What a session of `workflow` starting now records as its learning steps' lessons (the store is read
    only when a step learns)."""
    if not learning_steps(spec):
        return {}
    return to_pin(spec, workflow, await lessons(store, workflow))
