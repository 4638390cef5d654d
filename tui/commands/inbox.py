"""`baton inbox`: every checkpoint waiting in the store, across sessions, oldest first.

On a terminal it opens the full-screen Inbox (answer from there without attaching); `--json` prints one
object per checkpoint, and `--table` (or a stdout that is not a terminal) the same list as a table.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from baton.tui.commands.common import application, db_path, run, tui_available

if TYPE_CHECKING:
    from pathlib import Path

    from baton.sessions.app.inbox import InboxItem
    from baton.tui.app import BatonApp


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per waiting checkpoint.")
@click.option("--table", "as_table", is_flag=True, help="Print the table even on a terminal (no full screen).")
@click.pass_context
def inbox(ctx: click.Context, as_json: bool, as_table: bool) -> None:
    """Every checkpoint waiting for a person, in every session, oldest first.

    Answer one with `baton decide SESSION CHECKPOINT approve`, or open the full-screen Inbox (bare
    `baton inbox` on a terminal, or `i` on Home) to approve one or a batch in a key.
    """
    if not (as_json or as_table) and tui_available() and sys.stdout.isatty() and sys.stdin.isatty():
        sys.exit(open_inbox(db_path(ctx)))

    async def go() -> int:
        from baton.core.jsonout import dumps
        from baton.sessions.app.inbox import waiting

        async with application(ctx) as app:
            items = await waiting(app.store)
        if as_json:
            for item in items:
                click.echo(dumps(item.record()))
            return 0
        if not items:
            click.echo("nothing is waiting for a person")
            return 0
        print_table(items)
        return 0

    run(go())


def print_table(items: list[InboxItem]) -> None:
    """The waiting checkpoints as a table (untrusted text made inert)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from baton.core.economics import usd
    from baton.tui.report import duration
    from baton.tui.sanitize import one_line

    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("session", "workflow", "step", "asked", "cost", "waiting", "decision"):
        table.add_column(col, justify="right" if col in ("cost", "waiting") else "left")
    for item in items:
        table.add_row(
            item.session_id,
            Text(one_line(item.workflow, 30)),
            Text(one_line(item.step, 40)),
            Text(one_line(item.asked, 40)),
            usd(item.cost_usd, item.cost_unknown),
            duration(item.waited_s),
            "applied now" if item.runner else "queued (no runner)",
        )
    Console(highlight=False).print(table)


def inbox_app(db: Path | str) -> BatonApp:
    """The app `baton inbox` opens: Home underneath, the Inbox on top (leaving it leaves baton)."""
    import os

    from baton.tui.app import BatonApp
    from baton.tui.screens.home import HomeScreen
    from baton.tui.screens.inbox import InboxScreen

    class InboxApp(BatonApp):
        async def on_mount(self) -> None:
            # BatonApp's own on_mount runs after this one (Textual calls each class's handler): it opens
            # the store and pushes Home; the Inbox goes on top once Home is there.
            self._inbox_when_home()

        def _inbox_when_home(self) -> None:
            if self.launcher is not None and isinstance(self.screen, HomeScreen):
                self.push_screen(InboxScreen(self.launcher, standalone=True))
            else:
                self.set_timer(0.02, self._inbox_when_home)

    return InboxApp(db=db, naive=os.environ.get("BATON_TUI_NAIVE") == "1")


def open_inbox(db: Path | str) -> int:
    """`baton inbox` on a terminal: the Inbox over a session store (a file or a server); returns the exit code."""
    result = inbox_app(db).run()
    return result if isinstance(result, int) else 0
