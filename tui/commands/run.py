"""`baton run` and `baton step`: a new session of a workflow, viewed until it ends (or detached)."""

from __future__ import annotations

import os
from typing import Any

import click

from baton.tui.commands.common import (
    EXIT_HELP,
    application,
    collector_paused,
    fail,
    run_flags,
    tui_available,
    watch,
)
from baton.tui.commands.common import run as run_command


@click.command(epilog=EXIT_HELP)
@click.argument("flow")
@run_flags
@click.option("--step", "step_mode", is_flag=True, help="Pause before every step (like `baton step`).")
@click.pass_context
def run(ctx: click.Context, /, flow: str, step_mode: bool, **kw: Any) -> None:
    """Start a new session of FLOW (a file, or a bundled workflow name such as `demo`)."""
    run_command(start(ctx, flow, step_mode=step_mode, **kw))


@click.command(epilog=EXIT_HELP)
@click.argument("flow")
@run_flags
@click.pass_context
def step(ctx: click.Context, /, flow: str, **kw: Any) -> None:
    """Start FLOW in step mode: pause before every step, like a debugger."""
    run_command(start(ctx, flow, step_mode=True, **kw))


async def start(
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
    output: str | None,
    in_process: bool,
    step_mode: bool,
) -> int:
    """Check everything given (asking in a terminal for required inputs left out), record the session,
    start its runner, view it; with `-o FILE`, write its result there when it ends."""
    with collector_paused():
        from baton.sessions.app import config, load_for_run, plan_run
        from baton.tui.line.inputs import inputs_for_run

    if output is not None:
        check_output(output, detach)
    settings = config()
    workflow = load_for_run(flow, settings, on_warning=lambda warning: click.echo(warning, err=True))
    full_screen = not line and tui_available() and os.environ.get("BATON_LINE") != "1"
    unattended = as_json or auto is not None or decisions is not None
    values = await inputs_for_run(workflow, list(inputs), can_ask=not unattended, full_screen=full_screen)
    plan = plan_run(
        flow,
        auto=auto,
        decisions=decisions,
        step_mode=step_mode,
        breakpoints=breakpoints,
        max_usd=max_usd,
        models=models,
        config=settings,
        workflow=workflow,
        values=values,
    )
    async with application(ctx, in_process=in_process and not detach) as app:
        started = await app.start(plan)
        code = await watch(started, line, as_json, detach)
        if output is not None:
            from baton.tui.results import after_run

            click.echo(after_run((await app.open(started.session_id)).view, output), err=True)
        return code


def check_output(output: str, detach: bool) -> None:
    """`-o FILE` can be written when the run ends here (not with `--detach`)."""
    from baton.tui.results import ResultError, check_target

    if detach:
        fail("-o FILE writes the result when the run ends here: it cannot be used with --detach")
    try:
        check_target(output)
    except ResultError as exc:
        fail(str(exc))
