"""The Diff screen: two sessions side by side — their steps aligned, a mark on each (`=` same, `≠`
differs, `A`/`B` ran in one only), the first divergence highlighted and chosen — and, on enter, one
step's output diff, request diff, decisions and writes.

The comparison is `core.diff.compare` over the two folded sessions, the same one `baton diff` prints,
with the same cells. Everything from a model or a tool is made inert; nothing is markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from baton.tui import keymap
from baton.tui.diff_report import (
    COLUMNS,
    FIRST,
    LEGEND,
    decision_lines,
    mark,
    session_line,
    state_lines,
    step_cells,
    summary_text,
)
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.sanitize import inert, one_line

if TYPE_CHECKING:
    from baton.core.diff import SessionDiff, StepDiff
    from baton.tui.screens.launcher import Launcher

DIFF_STYLES = {"+": "$success", "-": "$error", "@": "$accent"}
"""A unified diff line's colour by its first character (theme variables)."""
CELL_WIDTH = 40


class DiffScreen(Keyed, Screen[None]):
    """Session `a` and session `b`, step by step."""

    CSS_PATH = "diff.tcss"
    KEY_CONTEXT = "diff"
    BINDINGS = keymap.bindings("diff")

    def __init__(self, launcher: Launcher, a: str, b: str | None = None) -> None:
        super().__init__()
        self.launcher = launcher
        self.a, self.b = a, b
        self.result: SessionDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content(f"comparing {self.a} with {self.b or 'its parent'}…"), id="diff-head")
        yield DataTable(id="diff-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="diff-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name or "mark")
        table.focus()
        self.load()

    @work(exclusive=True, group="diff", exit_on_error=False, description="compare two sessions")
    async def load(self) -> None:
        """Fold both sessions and compare them."""
        from baton.core.diff import compare
        from baton.tui.diff_report import sessions_to_compare

        try:
            view_a, view_b = await sessions_to_compare(self.launcher.app, self.a, self.b)
        except Exception as exc:
            self.query_one("#diff-head", Static).update(Content.styled(inert(exc), "$error"))
            self.notify(f"cannot compare: {inert(exc)}", severity="error", markup=False)
            return
        self.result = compare(view_a, view_b)
        self.draw()

    def draw(self) -> None:
        """The head, the table (the cursor on the first divergence) and the chosen step's detail."""
        result = self.result
        if result is None:
            return
        head: list[str | tuple[str, str]] = [
            (inert(session_line("A", result.a)), "bold"),
            "\n",
            (inert(session_line("B", result.b)), "bold"),
            "\n",
            (inert(summary_text(result)), "$warning" if not result.same else "$success"),
            "\n",
            (LEGEND, "dim"),
        ]
        self.query_one("#diff-head", Static).update(Content.assemble(*head))
        table = self.query_one(DataTable)
        table.clear()
        first = result.first.step if result.first is not None else None
        warning = self.app.theme_variables.get("warning") or None
        for step in result.steps:
            style = Style(bold=True, color=warning) if step.path == first else Style()
            marked = (FIRST if step.path == first else " ") + mark(step)
            cells = [Text(one_line(c, CELL_WIDTH), style=style) for c in step_cells(step)]
            table.add_row(Text(marked, style=style), *cells, key=step.path)
        if first is not None:
            table.move_cursor(row=[s.path for s in result.steps].index(first))
        self._show_detail()
        self.refresh_bindings()

    # --- the chosen step -------------------------------------------------------------------------

    def chosen(self) -> StepDiff | None:
        """The step under the cursor."""
        if self.result is None or not self.result.steps:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.result.steps[min(max(row, 0), len(self.result.steps) - 1)]

    @on(DataTable.RowHighlighted, "#diff-table")
    def _moved(self) -> None:
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        step = self.chosen()
        detail = self.query_one("#diff-detail", Static)
        if step is None or self.result is None:
            detail.update("")
            return
        parts: list[str | tuple[str, str]] = [(inert(step.title), "bold")]
        if step.differs:
            parts.append((f"  differs: {', '.join(step.differs)}", "$warning"))
        lines = [f"decision {d}" for d in decision_lines(step)]
        lines += [f"writes {sign} {text}" for sign, text in state_lines(step.writes)]
        for line in lines[:6]:
            parts += ["\n", one_line(line, 200)]
        if step.output_diff or step.request_diff:
            parts += ["\n", ("enter: the step's diff", "dim")]
        detail.update(Content.assemble(*parts))

    def differing_rows(self) -> list[int]:
        """Rows of the steps that differ."""
        return [i for i, s in enumerate(self.result.steps) if s.differs] if self.result is not None else []

    def key_facts(self) -> KeyFacts:
        if not self.is_mounted or self.result is None:
            return KeyFacts()
        row = self.query_one(DataTable).cursor_row
        rows = self.differing_rows()
        return KeyFacts(
            rows=len(self.result.steps),
            later_difference=any(r > row for r in rows),
            earlier_difference=any(r < row for r in rows),
        )

    def action_open(self) -> None:
        """The chosen step's diffs."""
        step = self.chosen()
        if step is not None:
            self.app.push_screen(StepDiffScreen(step))

    def action_difference(self, delta: int) -> None:
        """Choose the next (1) or previous (-1) step that differs."""
        table = self.query_one(DataTable)
        row = table.cursor_row
        rows = [r for r in self.differing_rows() if (r > row if delta > 0 else r < row)]
        if rows:
            table.move_cursor(row=rows[0] if delta > 0 else rows[-1])

    def action_back(self) -> None:
        """Back to the screen the comparison was opened from."""
        self.dismiss(None)

    @on(DataTable.RowSelected, "#diff-table")
    def _selected(self) -> None:
        self.action_open()


class StepDiffScreen(Keyed, Screen[None]):
    """One aligned step: why it differs, its decisions and writes, its request and output diffs."""

    CSS_PATH = "diff.tcss"
    KEY_CONTEXT = "diff_step"
    BINDINGS = keymap.bindings("diff_step")

    def __init__(self, step: StepDiff) -> None:
        super().__init__()
        self.step = step

    def compose(self) -> ComposeResult:
        step = self.step
        head: list[str | tuple[str, str]] = [(f"{mark(step)} {inert(step.title)}", "bold")]
        if step.why:
            head.append((f"  {step.why}", "$warning"))
        elif step.differs:
            head.append((f"  differs: {', '.join(step.differs)}", "$warning"))
        else:
            head.append(("  the same in both sessions", "$success"))
        yield Static(Content.assemble(*head), id="diff-step-head")
        with VerticalScroll(id="diff-step-body"):
            yield Static(step_content(step), id="diff-step-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#diff-step-body", VerticalScroll).focus()

    def action_back(self) -> None:
        """Back to the steps."""
        self.dismiss(None)


def step_content(step: StepDiff) -> Content:
    """The step's decisions, writes, request diff and output diff, inert, diff lines coloured by sign."""
    parts: list[str | tuple[str, str]] = []
    lines = [f"decision {d}" for d in decision_lines(step)]
    lines += [f"writes {sign} {text}" for sign, text in state_lines(step.writes)]
    for line in lines:
        parts += [inert(line), "\n"]
    sections = [("output", step.output_diff), ("request", step.request_diff)]
    for what, text in sections:
        if not text:
            continue
        parts += ["\n", (f"{what} (A -, B +)", "bold"), "\n"]
        for line in text.splitlines():
            style = "bold" if line.startswith(("+++", "---")) else DIFF_STYLES.get(line[:1], "")
            parts += [(inert(line), style) if style else inert(line), "\n"]
    if not any(text for _, text in sections):
        parts.append(("the output and the model request are the same in both sessions", "dim"))
    return Content.assemble(*parts)
