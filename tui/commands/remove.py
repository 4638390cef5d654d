"""`baton rm`: delete sessions and everything recorded for them."""

from __future__ import annotations

import click

from baton.tui.commands.common import application, run


@click.command()
@click.argument("session_ids", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete even while a runner holds the session.")
@click.pass_context
def rm(ctx: click.Context, session_ids: tuple[str, ...], yes: bool, force: bool) -> None:
    """Delete sessions and everything recorded for them."""

    async def go() -> int:
        async with application(ctx) as app:
            ids = await app.removable(session_ids, force=force)
            if not yes and not click.confirm(
                f"delete {len(ids)} session{'s' if len(ids) != 1 else ''} ({', '.join(ids)})?"
            ):
                return 1
            for session_id in ids:
                await app.delete(session_id, force=True)
                click.echo(f"deleted {session_id}")
            return 0

    run(go())
