"""The Inbox: every checkpoint waiting in the store, across sessions, oldest first; answered without attaching.

The list comes from the application layer (`sessions.app.inbox.watch`), read again as soon as anything is
committed in any session (a PostgreSQL store announces commits; a SQLite file is looked at every few
milliseconds) and at least every second. Approve is one
key, on the chosen checkpoint or on the marked ones (`s` marks every checkpoint like the chosen one: same
workflow, step and question), all sent at once through `Sessions.decide`: a session a runner holds applies
the decision now, one with no runner gets it queued and applied when it resumes — as `baton decide` does.
Every other decision (reject with feedback, edit, …) is made in the session's own Review screen, opened on
that checkpoint. A checkpoint that opens anywhere while the Inbox is open rings the terminal bell.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from baton.core.economics import usd
from baton.sessions.app import decided_from
from baton.sessions.app.inbox import REFRESH_S, InboxItem, approve, same_as, waiting, watch
from baton.sessions.errors import AppError
from baton.tui import keymap
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.report import duration
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.launcher import Launcher

if TYPE_CHECKING:
    from baton.tui.app import BatonApp
    from baton.tui.screens.run import RunScreen

COLUMNS = ("", "session", "workflow", "step", "asked", "cost", "waiting", "decision")
OPEN_WAIT_S = 30.0


def item_cells(item: InboxItem, marked: bool) -> tuple[Text, ...]:
    """One row of the inbox (inert text)."""
    return (
        Text("●" if marked else " ", style="bold"),
        Text(item.session_id),
        Text(one_line(item.workflow, 28)),
        Text(one_line(item.step, 32), style="bold"),
        Text(one_line(item.asked, 36)),
        Text(usd(item.cost_usd, item.cost_unknown), justify="right"),
        Text(duration(item.waited_s), justify="right"),
        Text("now" if item.runner else "queued", style="" if item.runner else "dim"),
    )


class InboxScreen(Keyed, Screen[None]):
    """Waiting checkpoints of every session; approve one or a batch, open one in its review."""

    KEY_CONTEXT = "inbox"
    BINDINGS = keymap.bindings("inbox")
    DEFAULT_CSS = """
    InboxScreen #inbox-title { height: 1; padding: 0 1; }
    InboxScreen #inbox-table { height: 1fr; border: round $primary; }
    """

    def __init__(self, launcher: Launcher, *, standalone: bool = False) -> None:
        super().__init__()
        self.launcher = launcher
        self.standalone = standalone
        self.items: list[InboxItem] = []
        self.marked: set[str] = set()
        self.busy = False
        self.rings = 0
        """How many times a newly opened checkpoint rang the bell."""
        self._known: set[str] | None = None
        self._shown: list[tuple[str, tuple[str, ...]]] = []

    @property
    def baton(self) -> BatonApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="inbox-title")
        yield DataTable(id="inbox-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#inbox-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name or "mark")
        table.border_title = "inbox"
        self.query_one("#inbox-title", Static).update(
            Content.assemble(("baton", "bold"), f" · waiting for a person in {inert(self.launcher.shown)}")
        )
        table.focus()
        self._follow()

    # --- the list --------------------------------------------------------------------------------

    @work(group="inbox-watch", exit_on_error=False, description="follow the waiting checkpoints")
    async def _follow(self) -> None:
        """Show the waiting checkpoints whenever the store changes (a failed read is tried again)."""
        while True:
            try:
                async for items in watch(self.launcher.store, self.baton.clock):
                    self._show(items)
            except AppError as exc:
                self.log.warning(f"inbox: {exc}")
                await asyncio.sleep(REFRESH_S)

    @work(exclusive=True, group="inbox", exit_on_error=False, description="read the waiting checkpoints")
    async def reload(self) -> None:
        """Read the waiting checkpoints again now (after this screen's own decisions)."""
        self._show(await waiting(self.launcher.store, self.baton.clock))

    def _show(self, items: list[InboxItem]) -> None:
        """Ring for new checkpoints, and redraw."""
        self.items = items
        keys = {item.key for item in self.items}
        if self._known is not None and keys - self._known:
            self._ring(len(keys - self._known))
        self._known = keys
        self.marked &= keys
        self._draw()

    def _ring(self, count: int) -> None:
        self.rings += 1
        self.app.bell()
        self.notify(f"⏸ {count} new checkpoint{'s' if count > 1 else ''} waiting", title="inbox", markup=False)

    def _draw(self) -> None:
        table = self.query_one("#inbox-table", DataTable)
        rows = [(item.key, item_cells(item, item.key in self.marked)) for item in self.items]
        shown = [(k, tuple(c.plain for c in cells)) for k, cells in rows]
        if shown == self._shown:
            return
        if [k for k, _ in shown] == [k for k, _ in self._shown]:
            for (key, cells), (_, old) in zip(rows, self._shown, strict=True):
                for name, cell, before in zip(COLUMNS, cells, old, strict=True):
                    if cell.plain != before:
                        table.update_cell(key, name or "mark", cell)
        else:
            chosen = self.chosen()
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
            ids = [k for k, _ in rows]
            if chosen is not None and chosen.key in ids:
                table.move_cursor(row=ids.index(chosen.key))
        self._shown = shown
        count = f"{len(self.items)} waiting" + (f" · {len(self.marked)} marked" if self.marked else "")
        if str(table.border_subtitle) != count:
            table.border_subtitle = count
        self.refresh_bindings()

    def chosen(self) -> InboxItem | None:
        """The checkpoint under the cursor."""
        table = self.query_one("#inbox-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((item for item in self.items if item.key == key), None)

    def targets(self) -> list[InboxItem]:
        """What approve acts on: the marked checkpoints, or the chosen one."""
        if self.marked:
            return [item for item in self.items if item.key in self.marked]
        chosen = self.chosen()
        return [chosen] if chosen is not None else []

    def key_facts(self) -> KeyFacts:
        if not self.is_mounted:
            return KeyFacts(standalone=self.standalone)
        chosen = self.chosen()
        targets = self.targets()
        return KeyFacts(
            rows=len(self.items),
            marked=len(self.marked),
            approvable=bool(targets) and all("approve" in item.checkpoint.options for item in targets),
            similar=len(same_as(self.items, chosen)) if chosen is not None else 0,
            standalone=self.standalone,
            busy=self.busy,
        )

    @on(DataTable.RowHighlighted, "#inbox-table")
    def _row_moved(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#inbox-table")
    def _row_chosen(self) -> None:
        self.action_open()

    # --- actions ---------------------------------------------------------------------------------

    def action_mark(self) -> None:
        """Mark or unmark the chosen checkpoint."""
        chosen = self.chosen()
        if chosen is None:
            return
        self.marked ^= {chosen.key}
        self._draw()
        table = self.query_one("#inbox-table", DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_mark_similar(self) -> None:
        """Mark every checkpoint like the chosen one."""
        chosen = self.chosen()
        if chosen is not None:
            self.marked |= {item.key for item in same_as(self.items, chosen)}
            self._draw()

    def action_unmark(self) -> None:
        """Clear the marks."""
        self.marked.clear()
        self._draw()

    def action_approve(self) -> None:
        """Approve the marked checkpoints (or the chosen one), all at once."""
        targets = self.targets()
        if targets and not self.busy:
            self._approve(targets)

    @work(exclusive=True, group="decide", exit_on_error=False, description="approve checkpoints")
    async def _approve(self, targets: list[InboxItem]) -> None:
        self.busy = True
        self.refresh_bindings()
        try:
            outcomes = await approve(self.launcher.app, targets, self.baton.by, decided_from("inbox"))
        finally:
            self.busy = False
            self.refresh_bindings()
        refused = [o for o in outcomes if isinstance(o, AppError)]
        done = [o for o in outcomes if not isinstance(o, AppError)]
        queued = sum(1 for o in done if o.queued)
        if done:
            what = f"{targets[0].step}" if len(targets) == 1 else f"{len(done)} checkpoints"
            note = f" ({queued} queued until their sessions resume)" if queued else ""
            self.notify(f"approved {one_line(what, 40)}{note}", markup=False)
        for error in refused:
            self.notify(inert(error), severity="error", markup=False)
        self.marked -= {item.key for item in targets}
        self.reload()

    def action_open(self) -> None:
        """The chosen checkpoint in its session's Review screen (every decision it offers)."""
        chosen = self.chosen()
        if chosen is None:
            return
        from baton.tui.screens.run import RunScreen

        screen = RunScreen(self.launcher.bus(chosen.session_id), launcher=self.launcher, naive=self.baton.naive)
        self.app.push_screen(screen, self._back_from_session)
        self._review_when_shown(screen, chosen.checkpoint_id)

    @work(group="open", exit_on_error=False, description="open the checkpoint's review")
    async def _review_when_shown(self, screen: RunScreen, checkpoint_id: str) -> None:
        from baton.tui.screens.review import ReviewScreen

        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_WAIT_S
        while loop.time() < deadline:
            cp = screen.feed.view.checkpoints.get(checkpoint_id) if screen.is_mounted else None
            current = self.app.screen
            if cp is not None:
                if isinstance(current, ReviewScreen) and current.session is screen:
                    if current.checkpoint_id != checkpoint_id and cp.is_open:
                        current.checkpoint_id = checkpoint_id
                        current.show()
                    return
                if current is screen and screen.is_mounted:
                    screen.action_review(checkpoint_id)
                    return
            if not screen.is_attached:
                return
            await asyncio.sleep(0.05)

    def _back_from_session(self, _status: str | None = None) -> None:
        self.reload()

    def action_back(self, how: str = "home") -> None:
        """Back to Home, or leave baton when the Inbox was opened alone."""
        if how == "quit":
            self.app.exit(0)
        else:
            self.dismiss(None)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """Open any waiting checkpoint."""
        from functools import partial

        return [
            (f"open {item.session_id} {item.step}", item.asked, partial(self._open_key, item.key))
            for item in self.items[:50]
        ]

    def _open_key(self, key: str) -> None:
        keys = [item.key for item in self.items]
        if key in keys:
            self.query_one("#inbox-table", DataTable).move_cursor(row=keys.index(key))
            self.action_open()
