"""The Lessons screen: what reviewers said when they rejected a step's answers, per workflow step.

Opened from Home (`l`). A lesson's text came from a person's feedback (or was added with `baton lessons
add`); it is shown as plain text, never as markup. `e` edits the chosen lesson, `d` removes it (asking
first): sessions started from then on use the change; the sessions that already ran keep what they used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from baton.core.learn.lessons import Lesson
from baton.sessions.app import user_name
from baton.sessions.lessons import edit_lesson, lessons, remove_lesson
from baton.tui import keymap
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.dialogs import ConfirmScreen, TextEditScreen
from baton.tui.screens.launcher import Launcher

if TYPE_CHECKING:
    from baton.tui.app import BatonApp

COLUMNS = ("lesson", "workflow", "step", "text", "from")


def lesson_cells(lesson: Lesson) -> tuple[Text, ...]:
    """One row of the table (inert text)."""
    origin = "added" if lesson.source == "added" else "session " + lesson.source.split(":")[0]
    if lesson.edited:
        origin += " · edited"
    return (
        Text(lesson.id),
        Text(one_line(lesson.workflow, 24)),
        Text(one_line(lesson.step, 28), style="bold"),
        Text(one_line(lesson.text, 90)),
        Text(one_line(f"{origin} · {lesson.by}" if lesson.by else origin, 40), style="dim"),
    )


class LessonsScreen(Keyed, Screen[None]):
    """Every lesson in the store; edit or remove the chosen one."""

    KEY_CONTEXT = "lessons"
    BINDINGS = keymap.bindings("lessons")
    DEFAULT_CSS = """
    LessonsScreen #lessons-title { height: 1; padding: 0 1; }
    LessonsScreen #lessons-table { height: 1fr; border: round $primary; }
    LessonsScreen #lessons-text { height: auto; max-height: 8; padding: 0 1; border: round $secondary; }
    """

    def __init__(self, launcher: Launcher) -> None:
        super().__init__()
        self.launcher = launcher
        self.items: list[Lesson] = []
        self.loaded = False

    @property
    def baton(self) -> BatonApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="lessons-title")
        yield DataTable(id="lessons-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="lessons-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#lessons-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.border_title = "lessons"
        self.query_one("#lessons-title", Static).update(
            Content.assemble(
                ("baton", "bold"),
                f" · lessons from reviewers' feedback in {inert(self.launcher.shown)}"
                " · a step with learn: true gets its lessons in later sessions",
            )
        )
        table.focus()
        self.reload()

    @work(exclusive=True, group="lessons", exit_on_error=False, description="read the lessons")
    async def reload(self) -> None:
        """Read the lessons again."""
        self._show(await lessons(self.launcher.store))

    def _show(self, items: list[Lesson]) -> None:
        chosen = self.chosen()
        self.items, self.loaded = items, True
        table = self.query_one("#lessons-table", DataTable)
        table.clear()
        for lesson in items:
            table.add_row(*lesson_cells(lesson), key=lesson.id)
        ids = [lesson.id for lesson in items]
        if chosen is not None and chosen.id in ids:
            table.move_cursor(row=ids.index(chosen.id))
        table.border_subtitle = f"{len(items)} lesson{'s' * (len(items) != 1)}"
        self._show_text()
        self.refresh_bindings()

    def chosen(self) -> Lesson | None:
        """The lesson under the cursor."""
        if not self.is_mounted:
            return None
        table = self.query_one("#lessons-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((lesson for lesson in self.items if lesson.id == key), None)

    def _show_text(self) -> None:
        chosen = self.chosen()
        text = self.query_one("#lessons-text", Static)
        if chosen is None:
            empty = "no lessons yet: a rejection with feedback at a review becomes one" if self.loaded else ""
            text.update(Text(empty, style="dim"))
        else:
            text.update(Text(inert(chosen.text)))

    def key_facts(self) -> KeyFacts:
        return KeyFacts(rows=len(self.items) if self.is_mounted else 0, busy=not self.loaded)

    @on(DataTable.RowHighlighted, "#lessons-table")
    def _row_moved(self) -> None:
        self._show_text()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#lessons-table")
    def _row_chosen(self) -> None:
        self.action_edit()

    # --- actions ---------------------------------------------------------------------------------

    def action_edit(self) -> None:
        """Edit the chosen lesson's text."""
        chosen = self.chosen()
        if chosen is None:
            return

        def edited(text: str | None) -> None:
            if text is not None and text.strip() != chosen.text:
                self._edit(chosen.id, text)

        title = f"Lesson {chosen.id} · {one_line(chosen.workflow, 30)} · {one_line(chosen.step, 30)}"
        self.app.push_screen(TextEditScreen(title, chosen.text, blink=not self.baton.naive), edited)

    @work(group="lessons-change", exit_on_error=False, description="edit a lesson")
    async def _edit(self, lesson_id: str, text: str) -> None:
        try:
            await edit_lesson(self.launcher.store, lesson_id, text, user_name())
        except Exception as exc:
            self.notify(inert(exc), severity="error", markup=False)
            return
        self.notify(f"lesson {lesson_id} edited: sessions started from now on use it", markup=False)
        self.reload()

    def action_remove(self) -> None:
        """Remove the chosen lesson (after a confirmation)."""
        chosen = self.chosen()
        if chosen is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(chosen.id)

        detail = f"{chosen.workflow} · {chosen.step}: {one_line(chosen.text, 80)} — later sessions no longer get it."
        self.app.push_screen(ConfirmScreen(f"Remove lesson {chosen.id}?", detail), answered)

    @work(group="lessons-change", exit_on_error=False, description="remove a lesson")
    async def _remove(self, lesson_id: str) -> None:
        try:
            await remove_lesson(self.launcher.store, lesson_id, user_name())
        except Exception as exc:
            self.notify(inert(exc), severity="error", markup=False)
            return
        self.notify(f"lesson {lesson_id} removed", markup=False)
        self.reload()

    def action_refresh(self) -> None:
        """Read the lessons again."""
        self.reload()

    def action_back(self) -> None:
        """Back to Home."""
        self.dismiss(None)
