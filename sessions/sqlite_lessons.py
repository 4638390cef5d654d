"""The `lessons` table of a SQLite store: what people changed in the lessons derived from their feedback.

One row per lesson a person touched (edited, removed or added), shared by every session of the store; the
lessons themselves come from the sessions' decisions (`sessions.lessons`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, TypeVar

from baton.core.learn.lessons import LessonEdit
from baton.core.secrets import Redactor
from baton.sessions.sqlite import StorePart

T = TypeVar("T")

LESSON_COLUMNS = "id, workflow, step, text, source, deleted, author, created_at, updated_at"
UPSERT_LESSON = (
    f"INSERT INTO lessons ({LESSON_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
    " text=excluded.text, deleted=excluded.deleted, author=excluded.author, updated_at=excluded.updated_at"
)


def lesson_row(row: Sequence[Any]) -> LessonEdit:
    """A `lessons` row as a `LessonEdit`."""
    return LessonEdit(
        id=str(row[0]),
        workflow=str(row[1]),
        step=str(row[2]),
        text=str(row[3]),
        source=str(row[4]),
        deleted=bool(row[5]),
        by=str(row[6]),
        created_at=float(row[7]),
        updated_at=float(row[8]),
    )


def lesson_values(edit: LessonEdit, redact: Redactor) -> tuple[Any, ...]:
    """The row's values, its text redacted."""
    return (
        edit.id,
        edit.workflow,
        edit.step,
        redact(edit.text),
        edit.source,
        int(edit.deleted),
        edit.by,
        edit.created_at,
        edit.updated_at,
    )


class SqliteLessons(StorePart):
    """The lessons' methods of `sessions.store.Store` (which provides what is declared here)."""

    redact: Redactor

    async def lesson_edits(self, workflow: str | None = None) -> list[LessonEdit]:
        """What people changed in lessons (of one workflow, or all), oldest first."""
        where, params = ("WHERE workflow = ?", (workflow,)) if workflow is not None else ("", ())
        rows = await self._all(f"SELECT {LESSON_COLUMNS} FROM lessons {where} ORDER BY created_at, id", params)
        return [lesson_row(r) for r in rows]

    async def save_lesson_edit(self, edit: LessonEdit) -> None:
        """Record a person's change to a lesson (replacing an earlier one of the same lesson)."""
        values = lesson_values(edit, self.redact)

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(UPSERT_LESSON, values)

        await self.transaction(put, small=True)
