"""The lessons a person changed, in a memory store: the SQL stores' `lessons` rows in a dictionary."""

from __future__ import annotations

import dataclasses
from typing import Any

from baton.core.learn.lessons import LessonEdit
from baton.core.secrets import Redactor


class MemoryLessons:
    """The lessons' methods of `sessions.memory.MemoryStore`."""

    redact: Redactor
    data: Any
    """The store's `MemoryData`: `lesson_edits` (id → row) and `committed()`."""

    async def lesson_edits(self, workflow: str | None = None) -> list[LessonEdit]:
        """What people changed in lessons (of one workflow, or all), oldest first."""
        rows = [e for e in self.data.lesson_edits.values() if workflow is None or e.workflow == workflow]
        return sorted(rows, key=lambda e: (e.created_at, e.id))

    async def save_lesson_edit(self, edit: LessonEdit) -> None:
        """Record a person's change to a lesson (replacing an earlier one of the same lesson)."""
        kept: LessonEdit | None = self.data.lesson_edits.get(edit.id)
        row = dataclasses.replace(edit, text=self.redact(edit.text))
        if kept is not None:
            row = dataclasses.replace(kept, text=row.text, deleted=edit.deleted, by=edit.by, updated_at=edit.updated_at)
        self.data.lesson_edits[edit.id] = row
        self.data.committed()
