"""`baton sessions` and `baton show`: the saved sessions, and one session's steps, state and costs."""

from __future__ import annotations

import click

from baton.tui.commands.common import EXIT_HELP, application, db_location, run


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per session.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def sessions(ctx: click.Context, as_json: bool, limit: int) -> None:
    """List saved sessions."""

    async def go() -> int:
        import time

        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from baton.core.economics import usd
        from baton.core.jsonout import dumps
        from baton.core.view import status_text
        from baton.tui.report import ago, duration
        from baton.tui.sanitize import one_line

        async with application(ctx) as app:
            entries = await app.list_sessions(limit)
        if as_json:
            for e in entries:
                r = e.row
                line = {
                    "session_id": r.id,
                    "workflow": r.workflow,
                    "status": e.status,
                    "created_at": r.created_at,
                    "cost_usd": r.cost_usd,
                    "inbox": r.inbox,
                }
                click.echo(dumps(line))
            return 0
        if not entries:
            click.echo("no sessions yet: try `baton run demo`")
            return 0
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("session", "workflow", "status", "started", "duration", "cost", "waiting"):
            table.add_column(col, justify="right" if col in ("cost", "waiting", "duration") else "left")
        now = time.time()
        for e in entries:
            r = e.row
            table.add_row(
                r.id,
                Text(one_line(r.workflow, 30)),
                status_text(e.status),
                ago(now - r.created_at),
                duration(r.active_s),
                usd(r.cost_usd, r.cost_unknown > 0),
                str(r.inbox or ""),
            )
        Console(highlight=False).print(table)
        return 0

    run(go())


@click.command()
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="The folded session as JSON.")
@click.option("--events", is_flag=True, help="Every event as a JSON line.")
@click.option("--full", is_flag=True, help="State values, notes and errors whole (not cut to one line).")
@click.option("--runs", default=1000, show_default=True, help="Project the cost at this many runs.")
@click.pass_context
def show(ctx: click.Context, session: str, as_json: bool, events: bool, full: bool, runs: int) -> None:
    """A session's steps, state, checkpoints and costs."""

    async def go() -> int:
        import dataclasses

        from rich.console import Console
        from rich.text import Text

        from baton.core.jsonout import dumps
        from baton.core.view import status_text
        from baton.tui.line.render import titled
        from baton.tui.report import steps_table, summary
        from baton.tui.results import full_state_lines, result_line
        from baton.tui.sanitize import inert, one_line

        async with application(ctx) as app:
            if events:
                for env in await app.events(session):
                    click.echo(dumps(env.to_json()))
                return 0
            opened = await app.open(session)
        view = opened.view
        if as_json:
            data = dataclasses.asdict(view)
            data.pop("workflow_text", None)
            data["status"] = opened.status
            data["breakpoints"] = sorted(view.breakpoints)
            click.echo(dumps(data, indent=1))
            return 0
        console = Console(highlight=False)
        head = Text()
        head.append(f"session {view.session_id}", style="bold")
        head.append(f" · {inert(view.workflow)} · {status_text(opened.status)}")
        if view.parent:
            head.append(f" · forked from {view.parent} at {inert(view.fork_step)}")
        console.print(head)
        console.print(steps_table(titled(view), full=full))
        if view.state:
            console.print(Text("state", style="bold"))
            if full:
                for row in full_state_lines(view):
                    console.print(Text(row), soft_wrap=True)
            else:
                for key, value in view.state.items():
                    console.print(Text(f"  {inert(key)}: {one_line(value, 100)}"))
        found = result_line(view)
        if found:
            console.print(Text(found, style="green"))
        for cp in view.open_checkpoints:
            console.print(
                Text(
                    f"⏸ waiting: {inert(view.title(cp.step))} ({cp.reason}) — baton attach {view.session_id}",
                    style="yellow",
                )
            )
        console.print(summary(titled(view), runs, result=False))
        return 0

    run(go())


@click.command(epilog=EXIT_HELP)
@click.argument("session")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Every output as one JSON object.")
@click.pass_context
def result(ctx: click.Context, session: str, key: str | None, as_json: bool) -> None:
    """Print SESSION's result to stdout (KEY: one output only). Text is printed as it is, so it pipes."""
    from baton.tui.results import print_result

    run(print_result(db_location(ctx), session, key, as_json))
