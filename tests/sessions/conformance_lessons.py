# ruff: noqa: F811 - the fixtures are imported by name from the store conformance suite
"""What every session store must do for lessons: keep a person's edits, removals and own lessons, shared by
every handle on the store, and derive the rest from the sessions' decisions — against SQLite, memory and
PostgreSQL (the fixtures of `tests.sessions.conformance`)."""

from __future__ import annotations

from baton.core import events as ev
from baton.core.learn.lessons import LessonEdit, derived_id
from baton.sessions import projection
from baton.sessions.interface import SessionStore
from baton.sessions.lessons import add_lesson, edit_lesson, lessons, remove_lesson
from tests.sessions.conformance import T0, Clock, backend, clock, new_session, other, store  # noqa: F401


async def _rejected(store: SessionStore, name: str, step: str, feedback: str) -> str:
    """A session whose person rejected `step`'s answer with `feedback` (its decision is event 3)."""
    sid = await new_session(store, name)
    cid = f"{step}:review:1"
    await store.append(
        sid,
        1,
        [
            ev.SessionStarted(workflow=name),
            ev.CheckpointOpened(step=step, checkpoint_id=cid, reason="review", output="draft"),
            ev.DecisionMade(step=step, checkpoint_id=cid, decision="reject", by="ana", feedback=feedback),
        ],
    )
    await projection.rebuild(store, sid)
    return sid


async def test_edits_are_kept_whole_and_read_back_by_every_handle(
    store: SessionStore, other: SessionStore, clock: Clock
) -> None:
    assert await store.lesson_edits() == []
    first = LessonEdit("a1", "brief", "write", "Cite sources.", "added", False, "ana", T0, T0)
    await store.save_lesson_edit(first)
    clock.advance(5)
    await other.save_lesson_edit(LessonEdit("b2", "plan", "outline", "Short.", "s1:4", True, "bo", T0 + 5, T0 + 5))
    assert await other.lesson_edits("brief") == [first]
    assert [e.id for e in await store.lesson_edits()] == ["a1", "b2"]
    (removed,) = await store.lesson_edits("plan")
    assert (removed.deleted, removed.source, removed.by) == (True, "s1:4", "bo")
    clock.advance(5)
    again = LessonEdit("a1", "other", "x", "Cite two sources.", "added", False, "bo", T0 + 10, T0 + 10)
    await other.save_lesson_edit(again)
    (kept,) = await store.lesson_edits("brief")
    assert (kept.text, kept.by, kept.updated_at) == ("Cite two sources.", "bo", T0 + 10)
    assert (kept.workflow, kept.step, kept.created_at) == ("brief", "write", T0), "where and when it began stay"


async def test_secrets_in_a_lesson_are_redacted(store: SessionStore) -> None:
    key = "sk-" + "a1B2" * 10
    await store.save_lesson_edit(LessonEdit("c3", "brief", "write", f"use {key}", "added", False, "ana", T0, T0))
    (row,) = await store.lesson_edits()
    assert key not in row.text


async def test_lessons_come_from_feedback_and_follow_a_persons_changes(
    store: SessionStore, other: SessionStore, clock: Clock
) -> None:
    sid = await _rejected(store, "brief", "refine#2/write", "Cite two sources.")
    await _rejected(store, "plan", "outline", "Shorter, please.")
    (lesson,) = await lessons(other, "brief")
    assert (lesson.id, lesson.step, lesson.text, lesson.source) == (
        derived_id(sid, 3),
        "refine/write",
        "Cite two sources.",
        f"{sid}:3",
    )
    edited = await edit_lesson(store, lesson.id[:5], "Cite at least two sources.", "bo")
    assert (edited.text, edited.edited) == ("Cite at least two sources.", True)
    clock.advance(1)
    added = await add_lesson(other, "brief", "refine/write", "Name the audience.", "ana")
    assert [x.text for x in await lessons(store, "brief")] == ["Cite at least two sources.", "Name the audience."]
    await remove_lesson(other, lesson.id, "ana")
    assert [x.id for x in await lessons(store, "brief")] == [added.id]
    assert [x.deleted for x in await lessons(store, "brief", deleted=True)] == [True, False]
    assert len(await lessons(store)) == 2, "the other workflow's lesson is listed with no workflow given"
