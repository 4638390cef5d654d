"""What the commands share: one-line errors with their exit codes, the store and application layer of
the `--db` in use, the flags of a run, and choosing a viewer (full screen, line mode or JSON lines)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from baton.core.bus import Bus
    from baton.sessions.app import Sessions, Started

F = TypeVar("F", bound=Callable[..., Any])

EXIT_HELP = """\b
Exit codes: 0 completed · 1 failed · 2 invalid input · 3 session in use
            4 paused or cancelled (waiting for a person) · 5 completed degraded
"""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    click.echo(message, err=True)
    sys.exit(code)


def run(coro: Coroutine[Any, Any, int]) -> NoReturn:
    """Run a command's coroutine and exit with its code; a refusal is its one line and its exit code."""
    import asyncio

    from baton.sessions.errors import AppError

    try:
        code = asyncio.run(coro)
    except AppError as exc:
        fail(str(exc), exc.code)
    except UnicodeEncodeError:
        fail("a value given on the command line is not valid UTF-8 text")
    except KeyboardInterrupt:
        fail("interrupted", 130)
    sys.exit(code)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a command loads its modules: importing creates long-lived objects
    only (classes, models, functions), and the collections their sheer number sets off find nothing to
    free: ~7% of the time `baton run` spends loading the application layer and the workflow spec's models.
    Collection resumes as it was once the block ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def given_db(ctx: click.Context) -> Path | str | None:
    """`--db` (or `BATON_DB`) as given: a file's path, or a PostgreSQL URL as text; None means the
    default in the data folder."""
    from baton.sessions.open import location_of

    return location_of(ctx.obj.get("db") if ctx.obj else None)


def db_path(ctx: click.Context) -> Path | str:
    """The session store the full-screen views open: a file's path, or a PostgreSQL URL (see `db_location`)."""
    return db_location(ctx)


def db_location(ctx: click.Context) -> Path | str:
    """The session store in use: a file's path, or a PostgreSQL URL."""
    from baton.core.paths import default_db

    return given_db(ctx) or default_db()


@asynccontextmanager
async def application(ctx: click.Context, *, in_process: bool = False) -> AsyncIterator[Sessions]:
    """The application layer over the store of `--db`; sessions run on runner hosts (or as tasks of this
    process with `in_process`)."""
    from baton.sessions.app import InProcessRunners, Sessions
    from baton.sessions.app.hosting import default_runners
    from baton.sessions.open import open_store
    from baton.sessions.store import Store

    location = given_db(ctx)
    store = await open_store(location)
    try:
        where = store.path if isinstance(store, Store) else str(location)  # a server's URL, for its runners
        runners = InProcessRunners() if in_process else default_runners(where)
        yield Sessions(store, runners)
    finally:
        await store.close()


async def watch(started: Started, line: bool, as_json: bool, detach: bool) -> int:
    """View a started session until it ends or the viewer leaves; the exit code of how it ended. With
    `detach`, print its id and leave its runner going."""
    from baton.sessions.app import exit_code

    if detach:
        click.echo(started.session_id)
        return 0
    seen = await view(started.bus, line, as_json, interactive=True)
    return exit_code(await started.finish(seen))


async def view(bus: Bus, line: bool, as_json: bool, interactive: bool) -> str:
    """The viewer for a terminal (full screen), `--line`, or `--json`; returns how the session ended."""
    from baton.sessions.app import decided_from, user_name

    if as_json:
        from baton.tui.jsonl import run_json

        return await run_json(bus, by=user_name(), where=decided_from("json"))
    if (
        not line
        and tui_available()
        and sys.stdout.isatty()
        and sys.stdin.isatty()
        and os.environ.get("BATON_LINE") != "1"
    ):
        from baton.tui.app import view_session

        return str(await view_session(bus))
    from baton.tui.line.viewer import LineViewer

    return await LineViewer(bus, interactive=interactive, by=user_name()).run()


def tui_available() -> bool:
    """Is the full-screen UI installed?"""
    from importlib.util import find_spec

    return find_spec("baton.tui.app") is not None


RUN_FLAGS = [
    click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A workflow input (repeatable)."),
    click.option("--line", is_flag=True, help="Line mode (no full screen)."),
    click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines; read decisions from stdin."),
    click.option("--auto", type=click.Choice(["approve", "reject"]), help="Answer every checkpoint unattended."),
    click.option(
        "--decisions", type=click.Path(dir_okay=False), help="Answer checkpoints by step id from a JSON file."
    ),
    click.option("--detach", is_flag=True, help="Leave the runner in the background and print the session id."),
    click.option("--break", "breakpoints", multiple=True, metavar="STEP", help="Pause before this step (repeatable)."),
    click.option("--max-usd", type=float, help="Session budget: no call is sent that could pass it."),
    click.option("--model", "models", multiple=True, metavar="ALIAS=MODEL", help="Point a model alias elsewhere."),
    click.option("--output", "-o", "output", metavar="FILE", help="Write the result to FILE when the run ends."),
    click.option("--in-process", is_flag=True, hidden=True, help="Run the runner inside this process."),
]


def run_flags(fn: F) -> F:
    """The options of `baton run` and `baton step`."""
    for flag in reversed(RUN_FLAGS):
        fn = flag(fn)
    return fn
