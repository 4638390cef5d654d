"""`baton fork`: a new session from another's record, earlier steps replayed at $0."""

from __future__ import annotations

import click

from baton.tui.commands.common import application, run, watch


@click.command()
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
        from baton.sessions.app import run_options

        async with application(ctx) as app:
            forked = await app.fork(session, at_step, sets)
            click.echo(f"forked {forked.source} at '{forked.at_step}' -> {forked.session_id}", err=True)
            if not run_now:
                click.echo(forked.session_id)
                return 0
            started = await app.run(forked.session_id, run_options(auto) if auto else None)
            return await watch(started, line, as_json, detach)

    run(go())
