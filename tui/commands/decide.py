"""`baton decide`: answer a checkpoint from anywhere, whether or not a runner holds the session.

At a tool call: `approve`, `edit --edited args.json` (the arguments as one JSON object), `reject --feedback
MESSAGE` (the model reads it as the tool's result), `deny` (the step stops), `always` (optionally scoped:
`--pattern path=reports/*`, repeatable). TARGET may also be the call's id when several calls wait.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from baton.core.commands import DECISIONS
from baton.tui.commands.common import application, fail, run

if TYPE_CHECKING:
    from baton.sessions.app import Sessions


@click.command()
@click.argument("session")
@click.argument("target")
@click.argument("decision", type=click.Choice(list(DECISIONS)))
@click.option("--feedback", default="", help="Feedback for a rejection (at a tool call: the message for the model).")
@click.option("--to", "to", default="", help="Reroute target.")
@click.option("--model", default="", help="Model alias for retry_model.")
@click.option("--edited", "edited_file", metavar="FILE", help="File with the edited value ('-' for stdin).")
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="ARG=GLOB",
    help="With always: allow the tool unasked only when these arguments match (repeatable).",
)
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
    patterns: tuple[str, ...],
) -> None:
    """Answer the open checkpoint TARGET (a checkpoint id or a step) of SESSION."""

    from baton.tui.tool_checkpoint import parse_pattern

    try:
        pattern = parse_pattern(patterns)
    except ValueError as exc:
        fail(f"--pattern: {exc}")
    if pattern and decision != "always":
        fail("--pattern scopes an 'always' decision (always for this session)")

    async def go() -> int:
        from baton.sessions.app import decided_from, read_text_file, user_name
        from baton.tui import decisions

        edited = None
        if edited_file is not None:
            edited = sys.stdin.read() if edited_file == "-" else read_text_file(edited_file)
        async with application(ctx) as app:
            session_id, cp = await app.waiting_checkpoint(session, await tool_call_target(app, session, target))
            details: dict[str, Any] = {}
            if feedback:
                details["feedback"] = feedback
            if to:
                details["target"] = to
            if model:
                details["model"] = model
            if edited is not None:
                details["edited"] = decisions.edited_value(cp, edited)
            if pattern:
                details["edited"] = pattern
            command = decisions.build(cp, decision, user_name(), where=decided_from("cli"), **details)
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



async def tool_call_target(app: Sessions, session: str, target: str) -> str:
    """TARGET as `waiting_checkpoint` takes it: a tool call's id names the checkpoint waiting for it."""
    for cp in (await app.open(session)).view.open_checkpoints:
        if cp.reason == "tool_call" and cp.context.get("call_id") == target:
            return cp.checkpoint_id
    return target
