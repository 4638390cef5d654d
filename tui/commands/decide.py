"""`baton decide`: answer a checkpoint from anywhere, whether or not a runner holds the session."""

from __future__ import annotations

import sys
from typing import Any

import click

from baton.tui.commands.common import application, run


@click.command()
@click.argument("session")
@click.argument("target")
@click.argument("decision", type=click.Choice(["approve", "edit", "reject", "reroute", "retry_model", "skip", "pause"]))
@click.option("--feedback", default="", help="Feedback for a rejection.")
@click.option("--to", "to", default="", help="Reroute target.")
@click.option("--model", default="", help="Model alias for retry_model.")
@click.option("--edited", "edited_file", metavar="FILE", help="File with the edited value ('-' for stdin).")
@click.pass_context
def decide(
    ctx: click.Context,
    session: str,
    target: str,
    decision: str,
    feedback: str,
    to: str,
    model: str,
    edited_file: str | None,
) -> None:
    """Answer the open checkpoint TARGET (a checkpoint id or a step) of SESSION."""

    async def go() -> int:
        from baton.sessions.app import read_text_file, user_name
        from baton.tui import decisions

        edited = None
        if edited_file is not None:
            edited = sys.stdin.read() if edited_file == "-" else read_text_file(edited_file)
        async with application(ctx) as app:
            session_id, cp = await app.waiting_checkpoint(session, target)
            details: dict[str, Any] = {}
            if feedback:
                details["feedback"] = feedback
            if to:
                details["target"] = to
            if model:
                details["model"] = model
            if edited is not None:
                details["edited"] = decisions.edited_value(cp, edited)
            command = decisions.build(cp, decision, user_name(), **details)
            outcome = await app.decide(session_id, command)
        if outcome.queued:
            click.echo(
                f"{decision}: {cp.checkpoint_id} queued — no runner holds session {session_id}; "
                f"it is checked and applied when the session resumes (baton resume {session_id})"
            )
        else:
            click.echo(f"{decision}: {cp.checkpoint_id}")
        return 0

    run(go())
