"""`baton resume` and `baton attach`: continue a session with a new runner, or watch the one it has."""

from __future__ import annotations

import click

from baton.tui.commands.common import EXIT_HELP, application, run, view, watch


@click.command(epilog=EXIT_HELP)
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
        async with application(ctx, in_process=in_process and not detach) as app:
            started = await app.resume(
                session, auto=auto, decisions=decisions, step_mode=step_mode, breakpoints=breakpoints, max_usd=max_usd
            )
            return await watch(started, line, as_json, detach)

    run(go())


@click.command(epilog=EXIT_HELP)
@click.argument("session")
@click.option("--line", is_flag=True, help="Line mode (no full screen).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.pass_context
def attach(ctx: click.Context, session: str, line: bool, as_json: bool) -> None:
    """Watch (and answer) a running or finished session."""

    async def go() -> int:
        from baton.sessions.app import exit_code

        async with application(ctx) as app:
            bus = await app.attach(session)
            return exit_code(await view(bus, line, as_json, interactive=True))

    run(go())
