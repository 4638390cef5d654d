"""The Home screen (bare `baton`): saved sessions and the workflows that can start new ones.

Sessions come from the store's `sessions` projection, refreshed every second. Workflows are listed by
their `name`, with their file beside it. Starting a session asks for the workflow's declared inputs in
a generated form (`tui.input_form`), then hands the run to a background runner and attaches to it;
attach, resume and delete work on the chosen row, and only show when they apply to it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from baton.core.economics import usd
from baton.core.spec.load import Workflow
from baton.tui import keymap
from baton.tui.input_form import inputs_form
from baton.tui.keymap import RESUMABLE, Keyed, KeyFacts
from baton.tui.report import ago, duration
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.dialogs import ConfirmScreen
from baton.tui.screens.launcher import FlowEntry, Launcher, SessionEntry

if TYPE_CHECKING:
    from baton.tui.app import BatonApp

COLUMNS = ("session", "workflow", "status", "started", "duration", "cost", "waiting")
STATUS_VARIABLES = {
    "running": "agent-running",
    "new": "agent-pending",
    "completed": "agent-done",
    "degraded": "agent-degraded",
    "failed": "agent-failed",
    "paused": "agent-awaiting",
    "cancelled": "agent-cancelled",
    "interrupted": "agent-failed",
}
_NAME_RE = re.compile(r"""^name:[ \t]*(["']?)(?P<name>[^"'#\n]+?)\1[ \t]*(?:#.*)?$""", re.M)


def session_cells(entry: SessionEntry, now: float, colors: dict[str, str]) -> tuple[Text, ...]:
    """One row of the sessions table (inert text, theme colours)."""
    row = entry.row
    status = entry.status
    color = colors.get(STATUS_VARIABLES.get(status, ""), "") or None
    waiting = Text(f"⏸ {row.inbox}" if row.inbox else "", style=Style(color=colors.get("inbox") or None, bold=True))
    return (
        Text(row.id),
        Text(one_line(row.workflow, 32)),
        Text(status, style=Style(color=color, bold=status in ("running", "failed"))),
        Text(ago(now - row.created_at)),
        Text(duration(row.active_s), justify="right"),
        Text(usd(row.cost_usd, row.cost_unknown > 0), justify="right"),
        waiting,
    )


def flow_name(path: Path) -> str:
    """A workflow file's `name:` (read without loading the workflow), or its file name without suffix."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(65536)
    except OSError:
        return path.stem
    match = _NAME_RE.search(head)
    return match.group("name").strip() if match else path.stem


def store_title(shown: str) -> str:
    """Where the store is (`Launcher.shown`: a path, or a URL without its password), the home directory as `~`."""
    home = str(Path.home())
    text = shown
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text


class HomeScreen(Keyed, Screen[None]):
    """Sessions on the left, workflows on the right."""

    CSS_PATH = "home.tcss"
    KEY_CONTEXT = "home"
    BINDINGS = keymap.bindings("home")

    def __init__(self, launcher: Launcher) -> None:
        super().__init__()
        self.launcher = launcher
        self.entries: list[SessionEntry] = []
        self.flows: list[FlowEntry] = []
        self._shown: list[tuple[str, tuple[str, ...]]] = []
        self._workflows: dict[str, Workflow | str] = {}
        self.compare_mark = ""
        """The session marked to compare another with (`m`, then `D` on the other)."""

    @property
    def baton(self) -> BatonApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="home-title")
        with Horizontal(id="home-body"):
            with Vertical(id="sessions-pane"):
                yield Input(placeholder="filter sessions: id, workflow or status  (/)", id="filter")
                yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            with Vertical(id="flows-pane"):
                yield OptionList(id="flows")
                yield Static(id="flow-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.border_title = "sessions"
        self.query_one("#filter", Input).cursor_blink = self.baton.blink
        flows = self.query_one("#flows", OptionList)
        flows.border_title = "workflows"
        self.flows = self.launcher.workflows()
        for flow in self.flows:
            shown = flow.path.name if flow.origin == "bundled" else _relative(flow.path)
            label = Content.assemble((one_line(flow_name(flow.path), 28), "bold"), (f"  {one_line(shown, 40)}", "dim"))
            flows.add_option(Option(label, id=str(flow.path)))
        title = Content.assemble(("baton", "bold"), f" · sessions in {inert(store_title(self.launcher.shown))}")
        self.query_one("#home-title", Static).update(title)
        table.focus()
        self.reload()
        self.set_interval(1.0, self.reload, name="sessions")

    # --- sessions --------------------------------------------------------------------------------

    @work(exclusive=True, group="sessions", exit_on_error=False, description="read the saved sessions")
    async def reload(self) -> None:
        """Read the sessions again and redraw the table."""
        self.entries = await self.launcher.sessions()
        self._draw()

    def _draw(self) -> None:
        table = self.query_one("#sessions", DataTable)
        query = self.query_one("#filter", Input).value.strip().lower()
        now = self.baton.clock()
        colors = self.baton.theme_variables
        rows = []
        for entry in self.entries:
            haystack = f"{entry.row.id} {entry.row.workflow} {entry.status}".lower()
            if query and query not in haystack:
                continue
            rows.append((entry.row.id, session_cells(entry, now, colors)))
        keys = [(k, tuple(c.plain for c in cells)) for k, cells in rows]
        if keys == self._shown:
            return
        if [k for k, _ in keys] == [k for k, _ in self._shown]:
            for (key, cells), (_, old) in zip(rows, self._shown, strict=True):
                for name, cell, before in zip(COLUMNS, cells, old, strict=True):
                    if cell.plain != before:
                        table.update_cell(key, name, cell)
        else:
            selected = self.selected_id()
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
            ids = [k for k, _ in rows]
            if selected in ids:
                table.move_cursor(row=ids.index(selected))
        self._shown = keys
        self.refresh_bindings()
        count = f"{len(rows)} of {len(self.entries)}" if query else f"{len(self.entries)}"
        if str(table.border_subtitle) != count:
            table.border_subtitle = count

    def selected_id(self) -> str:
        """The session under the cursor (empty when none)."""
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return ""
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or "")

    def _entry(self, session_id: str) -> SessionEntry | None:
        return next((e for e in self.entries if e.row.id == session_id), None)

    def key_facts(self) -> KeyFacts:
        entry = self._entry(self.selected_id()) if self.is_mounted else None
        box = self.query_one("#filter", Input) if self.is_mounted else None
        return KeyFacts(
            flows=len(self.flows),
            selected=entry.status if entry is not None else "",
            filtering=box is not None and box.has_focus,
            filtered=box is not None and bool(box.value),
            comparable=entry is not None and bool(self._compare_with(entry)),
        )

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._draw()
        self.refresh_bindings()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#sessions", DataTable).focus()

    @on(DataTable.RowHighlighted, "#sessions")
    def _row_moved(self) -> None:
        self.refresh_bindings()

    def action_unfilter(self) -> None:
        """Leave the filter: every session again, the cursor in the table."""
        self.query_one("#filter", Input).value = ""
        self.query_one("#sessions", DataTable).focus()

    @on(DataTable.RowSelected, "#sessions")
    def _row_chosen(self) -> None:
        self.action_attach()

    def action_inbox(self) -> None:
        """Every checkpoint waiting in the store: answer without attaching."""
        from baton.tui.screens.inbox import InboxScreen

        self.app.push_screen(InboxScreen(self.launcher), self._back_home)

    def action_lessons(self) -> None:
        """Lessons from reviewers' feedback: see, edit, remove."""
        from baton.tui.screens.lessons import LessonsScreen

        self.app.push_screen(LessonsScreen(self.launcher), self._back_home)

    def action_policy(self) -> None:
        """Approval rules learned from decisions on tool calls: accept, dismiss, revoke."""
        from baton.tui.screens.policy import PolicyScreen

        self.app.push_screen(PolicyScreen(self.launcher), self._back_home)

    def action_filter(self) -> None:
        """Type to filter the sessions."""
        self.query_one("#filter", Input).focus()

    def action_attach(self, session_id: str = "") -> None:
        """Open a session on the Run screen."""
        session_id = session_id or self.selected_id()
        if session_id:
            self.open_session(session_id)

    def open_session(self, session_id: str) -> None:
        """Push the Run screen for a session; come back here when it is left."""
        from baton.tui.screens.run import RunScreen

        screen = RunScreen(self.launcher.bus(session_id), launcher=self.launcher, naive=self.baton.naive)
        self.app.push_screen(screen, self._back_home)

    # --- comparing two sessions ------------------------------------------------------------------

    def _compare_with(self, entry: SessionEntry) -> str:
        """The session `D` compares the chosen one with: the marked one, else a fork's parent ('' none)."""
        if self.compare_mark and self.compare_mark != entry.row.id:
            return self.compare_mark
        return entry.row.parent

    def action_mark(self) -> None:
        """Mark the chosen session to compare with another (or unmark it)."""
        session_id = self.selected_id()
        if not session_id:
            return
        self.compare_mark = "" if self.compare_mark == session_id else session_id
        table = self.query_one("#sessions", DataTable)
        table.border_title = f"sessions · marked {self.compare_mark}" if self.compare_mark else "sessions"
        if self.compare_mark:
            self.notify(f"marked {session_id}: choose another session and press D to compare", markup=False)
        else:
            self.notify(f"unmarked {session_id}", markup=False)
        self.refresh_bindings()

    def action_diff(self) -> None:
        """The Diff screen: the marked session (or a fork's parent) against the chosen one."""
        from baton.tui.screens.diff import DiffScreen

        entry = self._entry(self.selected_id())
        other = self._compare_with(entry) if entry is not None else ""
        if entry is not None and other:
            self.app.push_screen(DiffScreen(self.launcher, other, entry.row.id), self._back_home)

    def _back_home(self, status: str | None) -> None:
        self.reload()

    def action_resume(self) -> None:
        """Resume the chosen session in a new runner, then open it."""
        entry = self._entry(self.selected_id())
        if entry is None:
            return
        if entry.status not in RESUMABLE:
            self.notify(f"session {entry.row.id} is {entry.status}: attach to it instead", markup=False)
            return
        self._resume(entry.row.id)

    @work(group="launch", exit_on_error=False, description="resume a session")
    async def _resume(self, session_id: str) -> None:
        try:
            await self.launcher.resume(session_id)
        except Exception as exc:
            self.notify(f"cannot resume {session_id}: {inert(exc)}", severity="error", markup=False)
            return
        self.open_session(session_id)

    def action_delete(self) -> None:
        """Delete the chosen session after a confirmation."""
        entry = self._entry(self.selected_id())
        if entry is None:
            return
        row = entry.row
        detail = f"{one_line(row.workflow, 40)} · {entry.status} · {usd(row.cost_usd)} — its events are removed."

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(row.id)

        self.app.push_screen(ConfirmScreen(f"Delete session {row.id}?", detail), answered)

    @work(group="launch", exit_on_error=False, description="delete a session")
    async def _delete(self, session_id: str) -> None:
        try:
            await self.launcher.delete(session_id)
        except Exception as exc:
            self.notify(inert(exc), severity="error", markup=False)
            return
        self.notify(f"deleted {session_id}", markup=False)
        self.reload()

    # --- workflows -------------------------------------------------------------------------------

    def _workflow(self, path: str) -> Workflow | str:
        if path not in self._workflows:
            from baton.tui.launch import LaunchError

            try:
                self._workflows[path] = self.launcher.load(Path(path))
            except LaunchError as exc:
                self._workflows[path] = str(exc)
        return self._workflows[path]

    @on(OptionList.OptionHighlighted, "#flows")
    def _flow_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        loaded = self._workflow(event.option.id or "")
        detail = self.query_one("#flow-detail", Static)
        if isinstance(loaded, str):
            detail.update(Content.styled(inert(loaded), "$agent-failed"))
            return
        spec = loaded.spec
        parts: list[str | tuple[str, str]] = [(inert(spec.name), "bold"), "\n"]
        if spec.description:
            parts += [inert(spec.description.strip()), "\n"]
        kinds = ", ".join(sorted({s.kind for s in spec.steps}))
        parts.append((f"\n{len(spec.steps)} steps ({kinds})\n", "dim"))
        if spec.inputs:
            parts.append(("inputs: " + ", ".join(inert(k) for k in spec.inputs), "dim"))
        detail.update(Content.assemble(*parts))

    @on(OptionList.OptionSelected, "#flows")
    def _flow_chosen(self) -> None:
        self.action_new()

    def action_new(self, path: str = "") -> None:
        """The inputs form for the chosen workflow, then a new session."""
        flows = self.query_one("#flows", OptionList)
        if not path:
            if flows.highlighted is None:
                flows.highlighted = 0
                flows.focus()
                return
            path = flows.get_option_at_index(flows.highlighted).id or ""
        loaded = self._workflow(path)
        if isinstance(loaded, str):
            self.notify(loaded, title="workflow has problems", severity="error", markup=False)
            return
        workflow = loaded

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                self._start(workflow, values)

        self.app.push_screen(inputs_form(workflow, blink=self.baton.blink), filled)

    @work(group="launch", exit_on_error=False, description="start a session")
    async def _start(self, workflow: Workflow, values: dict[str, str]) -> None:
        try:
            session_id = await self.launcher.start(workflow, values)
        except Exception as exc:
            self.notify(f"cannot start: {inert(exc)}", severity="error", markup=False)
            return
        self.notify(f"started {session_id}", markup=False)
        self.open_session(session_id)

    def theme_changed(self) -> None:
        """Status colours come from the theme: redraw every row."""
        self._shown = []
        self.query_one("#sessions", DataTable).clear()
        self._draw()

    def action_quit_app(self) -> None:
        """Leave the app."""
        self.app.exit(0)

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """Attach to any session; start any workflow."""
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for entry in self.entries[:50]:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.row.created_at))
            help_text = f"{entry.row.workflow} · {entry.status} · {started}"
            out.append((f"attach {entry.row.id}", help_text, partial(self.action_attach, entry.row.id)))
        for flow in self.flows:
            title = f"new session: {flow_name(flow.path)} ({flow.path.name})"
            out.append((title, f"{flow.origin} · {flow.path}", partial(self.action_new, str(flow.path))))
        return out


def _relative(path: Path) -> str:
    """A local workflow's path relative to the working directory (as `baton run` takes it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
