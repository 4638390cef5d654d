"""`baton host` (a runner host in the foreground) and `baton hosts` (the live hosts of the store)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from baton.tui.commands.common import application, db_location, run

if TYPE_CHECKING:
    from baton.sessions.records import HostRow, WorkRow


@click.command()
@click.option("--max-sessions", type=click.IntRange(min=1), default=100, show_default=True,
              help="Sessions this host runs at once.")
@click.option("--max-calls", type=click.IntRange(min=0), default=0, show_default=True,
              help="Model calls in flight on this host (0: no limit).")
@click.option("--quota", "quotas", multiple=True, metavar="MODEL=N",
              help="At most N concurrent calls to MODEL (as a workflow names it, or a provider model) across "
              "this host's sessions; repeat for more models.")
@click.option("--park-after", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds a session waits for a person before it is parked (kept as rows only).")
@click.option("--idle-exit", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Exit after this many seconds with nothing to run (0: never).")
@click.option("--lease-ttl", type=click.FloatRange(min=1), default=15.0, show_default=True,
              help="Seconds a session's lease lasts unless renewed: how soon another host takes over after "
              "this one dies.")
@click.pass_context
def host(ctx: click.Context, /, **kw: Any) -> None:
    """Run sessions of this store as a long-lived runner host, in the foreground.

    `baton run`, `resume` and `decide` hand sessions to a live host (starting one in the background when
    none runs). Ctrl-C or SIGTERM drain: commits in flight finish, sessions are let go (parked if they
    wait for a person, else queued for the next host), and the host exits.
    """
    import sys

    from baton.sessions import host_main

    argv = ["--max-sessions", str(kw["max_sessions"]), "--max-calls", str(kw["max_calls"]),
            "--park-after", str(kw["park_after"]), "--idle-exit", str(kw["idle_exit"]),
            "--lease-ttl", str(kw["lease_ttl"])]
    for quota in kw["quotas"]:
        argv += ["--quota", quota]
    location = db_location(ctx)
    if not isinstance(location, str):
        argv += ["--db", str(location)]
    sys.exit(host_main.main(argv))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per live host.")
@click.pass_context
def hosts(ctx: click.Context, as_json: bool) -> None:
    """The live runner hosts of this store: their sessions, uptime, memory and load."""

    async def go() -> int:
        from baton.core.jsonout import dumps

        async with application(ctx) as app:
            rows = await app.store.hosts()
            queue = await app.store.work()
        if as_json:
            for row in rows:
                click.echo(dumps(host_record(row, queue)))
            return 0
        if not rows:
            click.echo("no runner host is running (`baton run` starts one; `baton host` runs one here)")
            return 0
        print_hosts(rows, queue)
        return 0

    run(go())


def host_record(row: HostRow, queue: list[WorkRow]) -> dict[str, Any]:
    """A host as `baton hosts --json` prints it."""
    import json

    return {
        "id": row.id,
        "pid": row.pid,
        "machine": row.machine,
        "started_at": row.started_at,
        "uptime_s": round(max(0.0, time.time() - row.started_at), 1),
        "seen_at": row.seen_at,
        "sessions": sorted(w.session_id for w in queue if w.state == "running" and w.host_id == row.id),
        "running": row.sessions,
        "parked_total": row.parked,
        "rss_mb": round(row.rss_bytes / 2**20, 1),
        "cpu_s": row.cpu_s,
        "load": row.load,
        "calls_in_flight": row.calls,
        "limits": json.loads(row.limits or "{}"),
        "draining": bool(row.draining),
    }


def print_hosts(rows: list[HostRow], queue: list[WorkRow]) -> None:
    """The hosts as a table, then what waits in the queue."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from baton.tui.sanitize import one_line

    table = Table(box=None, pad_edge=False)
    for name in ("HOST", "PID", "MACHINE", "UP", "SESSIONS", "RSS", "CPU", "LOAD", "CALLS", "STATE"):
        table.add_column(name, no_wrap=True)
    for row in rows:
        record = host_record(row, queue)
        table.add_row(
            Text(one_line(row.id, 16)),
            str(row.pid),
            Text(one_line(row.machine, 32)),
            uptime(record["uptime_s"]),
            " ".join(record["sessions"]) or "-",
            f"{record['rss_mb']:.0f} MB",
            f"{row.cpu_s:.1f}s",
            f"{row.load:.2f}",
            str(row.calls),
            "draining" if row.draining else "serving",
        )
    console = Console(highlight=False, markup=False, emoji=False)
    console.print(table)
    queued = sum(1 for w in queue if w.state == "queued")
    parked = sum(1 for w in queue if w.state == "parked")
    console.print(f"queue: {queued} waiting for a host, {parked} parked (waiting for a person)")


def uptime(seconds: float) -> str:
    """`42s`, `7m`, `3h05m`."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"
