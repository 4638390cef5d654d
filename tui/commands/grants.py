"""`baton revoke`: end an always-for-this-session grant, so the tool's calls ask again."""

from __future__ import annotations

import click

from baton.tui.commands.common import application, fail, run


@click.command()
@click.argument("session")
@click.argument("tool")
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="ARG=GLOB",
    help="Revoke only the grant with this pattern (repeatable); default: every grant of TOOL.",
)
@click.pass_context
def revoke(ctx: click.Context, session: str, tool: str, patterns: tuple[str, ...]) -> None:
    """Revoke SESSION's always-for-this-session grants of TOOL: its calls ask again."""
    from baton.core.commands import Command
    from baton.tui.tool_checkpoint import parse_pattern

    try:
        pattern = parse_pattern(patterns) if patterns else None
    except ValueError as exc:
        fail(f"--pattern: {exc}")

    async def go() -> int:
        from baton.sessions.app import user_name

        async with application(ctx) as app:
            opened = await app.open(session)
            session_id = opened.session_id
            granted = sorted({g.tool for g in opened.view.tools.grants})
            if tool not in granted:
                known = ", ".join(granted) or "none"
                fail(f"session {session_id} has no grant for '{tool}' to revoke (granted: {known})")
            command = Command(kind="revoke", target=tool, edited=pattern, by=user_name())
            done = await app.decide(session_id, command)
        scope = f" ({', '.join(f'{k}={v}' for k, v in pattern.items())})" if pattern else ""
        if done.queued:
            click.echo(f"revoke {tool}{scope}: queued — applied when the session resumes (baton resume {session_id})")
        else:
            click.echo(f"revoked: {tool}{scope}")
        return 0

    run(go())
