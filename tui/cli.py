"""The `baton` command.

Imports are deferred to the command that needs them: `baton --help` and `baton validate` never load
litellm, and nothing here loads Textual until the full-screen UI is opened.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from baton.core.bus import Bus
    from baton.core.runner import RunOptions
    from baton.sessions.store import Store

EXIT_HELP = """\b
Exit codes: 0 completed · 1 failed · 2 invalid input · 3 session in use
            4 paused or cancelled (waiting for a person) · 5 completed degraded
"""


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _run(coro: Coroutine[Any, Any, int]) -> NoReturn:
    from baton.sessions.store import SessionInUse, StoreError
    from baton.tui.launch import LaunchError

    try:
        code = asyncio.run(coro)
    except LaunchError as exc:
        _fail(str(exc), exc.code)
    except SessionInUse as exc:
        _fail(str(exc), 3)
    except StoreError as exc:
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code)


def _db(ctx: click.Context) -> Path:
    from baton.core.paths import default_db

    value = ctx.obj.get("db") if ctx.obj else None
    return Path(value) if value else default_db()


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
@click.option(
    "--db",
    envvar="BATON_DB",
    type=click.Path(dir_okay=False),
    help="Session database (default: $XDG_DATA_HOME/baton/baton.db).",
)
@click.version_option(package_name="baton", prog_name="baton")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """baton — run AI agent pipelines in the terminal, with a person in the loop.

    With no command, opens the full-screen home: saved sessions and known workflows.
    """
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    if ctx.invoked_subcommand is None:
        if _tui_available() and sys.stdout.isatty() and sys.stdin.isatty():
            from baton.tui.app import open_home

            sys.exit(open_home(_db(ctx)))
        click.echo(ctx.get_help())


def _tui_available() -> bool:
    from importlib.util import find_spec

    return find_spec("baton.tui.app") is not None


def _run_options(
    auto: str | None, decisions: str | None, step_mode: bool, breakpoints: tuple[str, ...], max_usd: float | None
) -> RunOptions:
    from baton.core.runner import RunOptions
    from baton.tui.launch import load_decisions, user_name

    return RunOptions(
        auto=auto,
        decisions=load_decisions(decisions) if decisions else None,
        decisions_file=decisions or "",
        step_mode=step_mode,
        breakpoints=set(breakpoints),
        by=user_name(),
        max_usd=max_usd,
    )


def _models(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        alias, sep, model = pair.partition("=")
        if not sep or not alias or not model:
            _fail(f"--model {pair!r}: expected ALIAS=MODEL (for example strong=anthropic/claude-sonnet-4-5)")
        out[alias.strip()] = model.strip()
    return out


_run_flags = [
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
    click.option("--in-process", is_flag=True, hidden=True, help="Run the runner inside this process."),
]


def run_flags(fn: Any) -> Any:
    for flag in reversed(_run_flags):
        fn = flag(fn)
    return fn


@main.command(epilog=EXIT_HELP)
@click.argument("flow")
@run_flags
@click.option("--step", "step_mode", is_flag=True, help="Pause before every step (like `baton step`).")
@click.pass_context
def run(ctx: click.Context, /, flow: str, step_mode: bool, **kw: Any) -> None:
    """Start a new session of FLOW (a file, or a bundled workflow name such as `demo`)."""
    _run(_start(ctx, flow, step_mode=step_mode, **kw))


@main.command(epilog=EXIT_HELP)
@click.argument("flow")
@run_flags
@click.pass_context
def step(ctx: click.Context, /, flow: str, **kw: Any) -> None:
    """Start FLOW in step mode: pause before every step, like a debugger."""
    _run(_start(ctx, flow, step_mode=True, **kw))


async def _start(
    ctx: click.Context,
    flow: str,
    *,
    inputs: tuple[str, ...],
    line: bool,
    as_json: bool,
    auto: str | None,
    decisions: str | None,
    detach: bool,
    breakpoints: tuple[str, ...],
    max_usd: float | None,
    models: tuple[str, ...],
    in_process: bool,
    step_mode: bool,
) -> int:
    from baton.sessions.create import create_session
    from baton.sessions.store import Store
    from baton.tui.launch import config_or_exit, load_flow, parse_inputs

    config = config_or_exit()
    workflow = load_flow(flow, config)
    for warning in workflow.warnings:
        click.echo(str(warning), err=True)
    values = parse_inputs(workflow, list(inputs))
    _check_breakpoints(workflow, breakpoints)
    options = _run_options(auto, decisions, step_mode, breakpoints, max_usd)
    overrides = _models(models)
    db = _db(ctx)
    store = await Store.open(db)
    try:
        session_id = await create_session(store, workflow, values, options, overrides)
        return await _host_and_view(store, db, session_id, None, overrides, line, as_json, detach, in_process)
    finally:
        await store.close()


def _check_breakpoints(workflow: Any, breakpoints: tuple[str, ...]) -> None:
    from baton.core.spec.graph import iter_steps
    from baton.tui.launch import LaunchError

    ids = [info.step.id for info in iter_steps(workflow.spec)]
    for name in breakpoints:
        if name not in ids:
            raise LaunchError(f"--break {name}: no step '{name}' in this workflow (steps: {', '.join(ids)})")


async def _host_and_view(
    store: Store,
    db: Path,
    session_id: str,
    options: RunOptions | None,
    models: dict[str, str],
    line: bool,
    as_json: bool,
    detach: bool,
    in_process: bool,
) -> int:
    from baton.sessions.bus import StoreBus
    from baton.sessions.host import SessionHost
    from baton.tui.launch import EXIT_CODES, spawn_runner, wait_started

    if in_process and not detach:
        host = SessionHost(store, session_id, options=options, models=models, local=True)
        task = asyncio.ensure_future(host.run())
        await asyncio.sleep(0)
        assert host.bus is not None
        status = await _view(host.bus, line, as_json, interactive=True)
        if status in ("detached",):
            task.cancel()
        result = await asyncio.gather(task, return_exceptions=True)
        final = result[0] if isinstance(result[0], str) else status
        return EXIT_CODES.get(final, 0 if final == "detached" else 1)
    before = await store.last_seq(session_id)
    process = spawn_runner(db, session_id, options, models)
    await wait_started(store, session_id, process, before)
    if detach:
        click.echo(session_id)
        return 0
    status = await _view(StoreBus(store, session_id), line, as_json, interactive=True)
    return EXIT_CODES.get(status, 0 if status == "detached" else 1)


async def _view(bus: Bus, line: bool, as_json: bool, interactive: bool) -> str:
    from baton.tui.launch import user_name

    if as_json:
        from baton.tui.jsonl import run_json

        return await run_json(bus, by=user_name())
    if (
        not line
        and _tui_available()
        and sys.stdout.isatty()
        and sys.stdin.isatty()
        and os.environ.get("BATON_LINE") != "1"
    ):
        from baton.tui.app import view_session

        return str(await view_session(bus))
    from baton.tui.line.viewer import LineViewer

    return await LineViewer(bus, interactive=interactive, by=user_name()).run()


@main.command(epilog=EXIT_HELP)
@click.argument("session")
@click.option("--line", is_flag=True, help="Line mode (no full screen).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.pass_context
def attach(ctx: click.Context, session: str, line: bool, as_json: bool) -> None:
    """Watch (and answer) a running or finished session."""

    async def go() -> int:
        from baton.sessions.bus import StoreBus
        from baton.sessions.store import Store
        from baton.tui.launch import EXIT_CODES

        store = await Store.open(_db(ctx))
        try:
            session_id = await store.resolve(session)
            status = await _view(StoreBus(store, session_id), line, as_json, interactive=True)
            return EXIT_CODES.get(status, 0 if status == "detached" else 1)
        finally:
            await store.close()

    _run(go())


@main.command(epilog=EXIT_HELP)
@click.argument("session")
@click.option("--line", is_flag=True, help="Line mode (no full screen).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.option("--auto", type=click.Choice(["approve", "reject"]), help="Answer every checkpoint unattended.")
@click.option("--decisions", type=click.Path(dir_okay=False), help="Answer checkpoints by step id from a JSON file.")
@click.option("--detach", is_flag=True, help="Leave the runner in the background.")
@click.option("--step", "step_mode", is_flag=True, help="Pause before every step from here on.")
@click.option("--break", "breakpoints", multiple=True, metavar="STEP", help="Pause before this step.")
@click.option("--max-usd", type=float, help="Session budget from here on.")
@click.option("--in-process", is_flag=True, hidden=True)
@click.pass_context
def resume(
    ctx: click.Context,
    session: str,
    line: bool,
    as_json: bool,
    auto: str | None,
    decisions: str | None,
    detach: bool,
    step_mode: bool,
    breakpoints: tuple[str, ...],
    max_usd: float | None,
    in_process: bool,
) -> None:
    """Continue a paused, cancelled, crashed or finished session. Completed steps are not re-run."""

    async def go() -> int:
        from baton.core.runner import RunOptions
        from baton.sessions.store import SessionInUse, Store

        store = await Store.open(_db(ctx))
        try:
            session_id = await store.resolve(session)
            lease = await store.lease(session_id)
            if lease and await store.runner_alive(session_id):
                raise SessionInUse(session_id, lease[0], lease[1])
            row = await store.session(session_id)
            stored = RunOptions.from_json(row.options_dict)
            changed = auto or decisions or step_mode or breakpoints or max_usd is not None
            options = None
            if changed:
                options = _run_options(
                    auto or stored.auto,
                    decisions,
                    step_mode or stored.step_mode,
                    tuple(set(breakpoints) | stored.breakpoints),
                    max_usd if max_usd is not None else stored.max_usd,
                )
                if not decisions and stored.decisions is not None:
                    options.decisions, options.decisions_file = stored.decisions, stored.decisions_file
            return await _host_and_view(store, _db(ctx), session_id, options, {}, line, as_json, detach, in_process)
        finally:
            await store.close()

    _run(go())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per session.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def sessions(ctx: click.Context, as_json: bool, limit: int) -> None:
    """List saved sessions."""

    async def go() -> int:
        import json
        import time

        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from baton.core.economics import usd
        from baton.sessions.store import Store, shown_status
        from baton.tui.report import ago, duration
        from baton.tui.sanitize import one_line

        store = await Store.open(_db(ctx))
        try:
            rows = await store.sessions(limit)
            alive = {r.id: await store.runner_alive(r.id) for r in rows if r.status in ("new", "running")}
        finally:
            await store.close()
        if as_json:
            for r in rows:
                click.echo(
                    json.dumps(
                        {
                            "id": r.id,
                            "workflow": r.workflow,
                            "status": shown_status(r.status, alive.get(r.id)),
                            "created_at": r.created_at,
                            "cost_usd": r.cost_usd,
                            "inbox": r.inbox,
                        }
                    )
                )
            return 0
        if not rows:
            click.echo("no sessions yet: try `baton run demo`")
            return 0
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("session", "workflow", "status", "started", "duration", "cost", "waiting"):
            table.add_column(col, justify="right" if col in ("cost", "waiting", "duration") else "left")
        now = time.time()
        for r in rows:
            table.add_row(
                r.id,
                Text(one_line(r.workflow, 30)),
                shown_status(r.status, alive.get(r.id)),
                ago(now - r.created_at),
                duration(r.active_s),
                usd(r.cost_usd, r.cost_unknown > 0),
                str(r.inbox or ""),
            )
        Console(highlight=False).print(table)
        return 0

    _run(go())


@main.command()
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="The folded session as JSON.")
@click.option("--events", is_flag=True, help="Every event as a JSON line.")
@click.option("--runs", default=1000, show_default=True, help="Project the cost at this many runs.")
@click.pass_context
def show(ctx: click.Context, session: str, as_json: bool, events: bool, runs: int) -> None:
    """A session's steps, state, checkpoints and costs."""

    async def go() -> int:
        import dataclasses
        import json

        from rich.console import Console
        from rich.text import Text

        from baton.core.secrets import redact
        from baton.sessions.store import Store, shown_status
        from baton.tui.report import steps_table, summary
        from baton.tui.sanitize import inert, one_line

        store = await Store.open(_db(ctx))
        try:
            session_id = await store.resolve(session)
            if events:
                for env in await store.events(session_id):
                    click.echo(redact(json.dumps(env.to_json(), ensure_ascii=False, default=str)))
                return 0
            view = await store.view(session_id)
            alive = await store.runner_alive(session_id)
        finally:
            await store.close()
        if as_json:
            data = dataclasses.asdict(view)
            data.pop("workflow_text", None)
            data["breakpoints"] = sorted(view.breakpoints)
            click.echo(redact(json.dumps(data, ensure_ascii=False, default=str, indent=1)))
            return 0
        console = Console(highlight=False)
        head = Text()
        head.append(f"session {view.session_id}", style="bold")
        status = shown_status(view.status, alive if view.status == "running" else None)
        head.append(f" · {inert(view.workflow)} · {status}")
        if view.parent:
            head.append(f" · forked from {view.parent} at {inert(view.fork_step)}")
        console.print(head)
        console.print(steps_table(view))
        if view.state:
            console.print(Text("state", style="bold"))
            for key, value in view.state.items():
                console.print(Text(f"  {inert(key)}: {one_line(value, 100)}"))
        for cp in view.open_checkpoints:
            console.print(
                Text(f"⏸ waiting: {inert(cp.step)} ({cp.reason}) — baton attach {view.session_id}", style="yellow")
            )
        console.print(summary(view, runs))
        return 0

    _run(go())


@main.command()
@click.argument("session_ids", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete even while a runner holds the session.")
@click.pass_context
def rm(ctx: click.Context, session_ids: tuple[str, ...], yes: bool, force: bool) -> None:
    """Delete sessions and everything recorded for them."""

    async def go() -> int:
        from baton.sessions.store import Store

        store = await Store.open(_db(ctx))
        try:
            ids = [await store.resolve(s) for s in session_ids]
            for session_id in ids:
                if not force and await store.runner_alive(session_id):
                    _fail(f"session {session_id} is running; cancel it first or use --force", 3)
            if not yes and not click.confirm(
                f"delete {len(ids)} session{'s' if len(ids) != 1 else ''} ({', '.join(ids)})?"
            ):
                return 1
            for session_id in ids:
                await store.delete_session(session_id)
                click.echo(f"deleted {session_id}")
            return 0
        finally:
            await store.close()

    _run(go())


@main.command()
@click.argument("flows", nargs=-1, required=True)
def validate(flows: tuple[str, ...]) -> None:
    """Check workflow files: `file:line:col: message` per problem, exit 2 if any."""
    from baton.core.config import ConfigInvalid, known_aliases, load_config
    from baton.core.spec.load import load_workflow
    from baton.core.spec.problems import WorkflowInvalid
    from baton.tui.launch import LaunchError, resolve_flow

    try:
        aliases = known_aliases(load_config())
    except ConfigInvalid as exc:
        _fail(str(exc))
    failed = False
    for name in flows:
        try:
            path = resolve_flow(name)
            workflow = load_workflow(path, aliases)
        except LaunchError as exc:
            click.echo(f"{name}:1:1: {exc}")
            failed = True
            continue
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                click.echo(str(problem))
            failed = True
            continue
        for warning in workflow.warnings:
            click.echo(str(warning))
        spec = workflow.spec
        kinds = sorted({s.kind for s in spec.steps})
        click.echo(
            f"{path}: ok — '{spec.name}': {len(spec.steps)} top-level steps ({', '.join(kinds)}), "
            f"{len(spec.state)} state keys, {len(spec.inputs)} inputs"
        )
    sys.exit(2 if failed else 0)


@main.command()
@click.argument("session")
@click.argument("target")
@click.argument("decision", type=click.Choice(["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]))
@click.option("--feedback", default="", help="Feedback for a rejection.")
@click.option("--to", "to", default="", help="Reroute target.")
@click.option("--model", default="", help="Model alias for retry_model.")
@click.option("--edited", "edited_file", type=click.File("r"), help="File with the edited value ('-' for stdin).")
@click.pass_context
def decide(
    ctx: click.Context, session: str, target: str, decision: str, feedback: str, to: str, model: str, edited_file: Any
) -> None:
    """Answer the open checkpoint TARGET (a checkpoint id or a step) of SESSION."""

    async def go() -> int:
        from baton.core.step_path import StepPath
        from baton.sessions.bus import StoreBus
        from baton.sessions.store import Store
        from baton.tui import decisions
        from baton.tui.launch import user_name

        store = await Store.open(_db(ctx))
        try:
            session_id = await store.resolve(session)
            view = await store.view(session_id)
            waiting = [c for c in view.open_checkpoints if target in (c.checkpoint_id, c.step, StepPath(c.step).name)]
            if not waiting:
                _fail(
                    f"no open checkpoint '{target}' in session {session_id}"
                    + (
                        f" (waiting: {', '.join(c.step for c in view.open_checkpoints)})"
                        if view.open_checkpoints
                        else ""
                    )
                )
            cp = waiting[0]
            details: dict[str, Any] = {}
            if feedback:
                details["feedback"] = feedback
            if to:
                details["target"] = to
            if model:
                details["model"] = model
            if edited_file is not None:
                details["edited"] = decisions.edited_value(cp, edited_file.read())
            command = decisions.build(cp, decision, user_name(), **details)
            if not await store.runner_alive(session_id):
                await store.send(session_id, command)
                click.echo(
                    f"{decision}: {cp.checkpoint_id} queued — no runner holds session {session_id}; "
                    f"it is checked and applied when the session resumes (baton resume {session_id})"
                )
                return 0
            verdict = await decisions.send_and_wait(StoreBus(store, session_id), command)
        finally:
            await store.close()
        if not verdict.ok:
            _fail(f"refused: {verdict.reason}", 2)
        click.echo(f"{decision}: {cp.checkpoint_id}")
        return 0

    _run(go())


@main.command()
@click.argument("session")
@click.option("--at", "at_step", required=True, metavar="STEP", help="The top-level step to start again from.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Change a state value at the fork point.")
@click.option("--run/--no-run", "run_now", default=True, show_default=True, help="Run the fork now.")
@click.option("--line", is_flag=True, help="Line mode (no full screen).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.option("--auto", type=click.Choice(["approve", "reject"]), help="Answer every checkpoint unattended.")
@click.option("--detach", is_flag=True, help="Leave the runner in the background.")
@click.pass_context
def fork(
    ctx: click.Context,
    session: str,
    at_step: str,
    sets: tuple[str, ...],
    run_now: bool,
    line: bool,
    as_json: bool,
    auto: str | None,
    detach: bool,
) -> None:
    """Start a new session from SESSION's record up to STEP: earlier steps are not re-run, and requests
    the parent already answered are replayed from its record at $0."""

    async def go() -> int:
        from baton.core.spec.load import load_text
        from baton.sessions.fork import fork_session
        from baton.sessions.store import Store

        store = await Store.open(_db(ctx))
        try:
            source = await store.resolve(session)
            row = await store.session(source)
            workflow = load_text(row.workflow_text, row.workflow_path)
            new_id = await fork_session(store, source, at_step, _state_values(workflow, sets))
            click.echo(f"forked {source} at '{at_step}' -> {new_id}", err=True)
            if not run_now:
                click.echo(new_id)
                return 0
            options = _run_options(auto, None, False, (), None) if auto else None
            return await _host_and_view(store, _db(ctx), new_id, options, {}, line, as_json, detach, False)
        finally:
            await store.close()

    _run(go())


def _state_values(workflow: Any, pairs: tuple[str, ...]) -> dict[str, Any]:
    from baton.core.state import coerce_input

    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in workflow.spec.state:
            _fail(f"--set {pair!r}: expected KEY=VALUE with a state key ({', '.join(workflow.spec.state)})")
        try:
            values[key] = coerce_input(raw, workflow.spec.state[key].type)
        except ValueError as exc:
            _fail(f"--set {key}: {exc}")
    return values


@main.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--content", is_flag=True, help="Include prompts and answers (off by default).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Where to write (default: stdout).")
@click.pass_context
def export(ctx: click.Context, session: str, fmt: str, content: bool, output: Any) -> None:
    """Export a session as OpenTelemetry GenAI spans, one JSON object a line."""

    async def go() -> int:
        import json

        from baton.core.export import spans
        from baton.core.secrets import redact
        from baton.sessions.store import Store

        store = await Store.open(_db(ctx))
        try:
            view = await store.view(await store.resolve(session))
        finally:
            await store.close()
        for span in spans(view, content=content):
            output.write(redact(json.dumps(span, ensure_ascii=False, default=str)) + "\n")
        return 0

    _run(go())


@main.command()
@click.argument("flow")
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A workflow input (repeatable).")
@click.option("--runs", default=1000, show_default=True, help="Project the cost at this many runs.")
@click.option("--model", "models", multiple=True, metavar="ALIAS=MODEL", help="Point a model alias elsewhere.")
@click.option("--json", "as_json", is_flag=True, help="The estimate as JSON.")
def estimate(flow: str, inputs: tuple[str, ...], runs: int, models: tuple[str, ...], as_json: bool) -> None:
    """A per-step and total cost range for FLOW, before running it."""
    from baton.tui.estimate import run_estimate

    sys.exit(run_estimate(flow, list(inputs), runs, _models(models), as_json))


@main.command(name="flows")
def list_flows() -> None:
    """List bundled and local workflows."""
    from baton.tui.launch import bundled_flows, local_flows

    for path in bundled_flows():
        click.echo(f"{path.stem:16} (bundled) {path}")
    for path in local_flows():
        click.echo(f"{path.stem:16} (local)   {path}")


if __name__ == "__main__":
    main()
