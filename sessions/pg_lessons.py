"""The `lessons` table of a PostgreSQL store: the SQLite store's rows (`sessions.sqlite_lessons`), shared by
everyone using the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection

from baton.core.learn.lessons import LessonEdit
from baton.core.secrets import Redactor
from baton.sessions.sqlite_lessons import LESSON_COLUMNS, UPSERT_LESSON, lesson_row, lesson_values

T = TypeVar("T")
Conn = AsyncConnection[tuple[Any, ...]]

UPSERT = UPSERT_LESSON.replace("?", "%s").replace("excluded.", "EXCLUDED.")


class PgLessons:
    """The lessons' methods of `sessions.pg_store.PgStore` (which provides what is declared here)."""

    redact: Redactor

    async def transaction(self, work: Callable[[Conn], Awaitable[T]], session_id: str = "") -> T:
        raise NotImplementedError

    async def _all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def lesson_edits(self, workflow: str | None = None) -> list[LessonEdit]:
        """What people changed in lessons (of one workflow, or all), oldest first."""
        where, params = ("WHERE workflow = %s", (workflow,)) if workflow is not None else ("", ())
        rows = await self._all(f"SELECT {LESSON_COLUMNS} FROM lessons {where} ORDER BY created_at, id", params)
        return [lesson_row(r) for r in rows]

    async def save_lesson_edit(self, edit: LessonEdit) -> None:
        """Record a person's change to a lesson (replacing an earlier one of the same lesson)."""
        values = lesson_values(edit, self.redact)

        async def put(conn: Conn) -> None:
            await conn.execute(UPSERT, values)

        await self.transaction(put)
