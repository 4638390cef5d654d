"""`baton run` and `baton step`: a new session of a workflow, viewed until it ends (or detached)."""

from __future__ import annotations

from typing import Any

import click

from baton.tui.commands.common import EXIT_HELP, application, run_flags, watch
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
    in_process: bool,
    step_mode: bool,
) -> int:
    """Check everything given, record the session, start its runner, view it."""
    from baton.sessions.app import plan_run

    plan = plan_run(
        flow,
        inputs=inputs,
        auto=auto,
        decisions=decisions,
        step_mode=step_mode,
        breakpoints=breakpoints,
        max_usd=max_usd,
        models=models,
        on_warning=lambda warning: click.echo(warning, err=True),
    )
    async with application(ctx, in_process=in_process and not detach) as app:
        started = await app.start(plan)
        return await watch(started, line, as_json, detach)
