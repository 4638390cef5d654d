"""The `baton` command: the group, its `--db` option, and its subcommands (each in `tui/commands/`).

Imports are deferred to the command that needs them: `baton --help` and `baton validate` never load
litellm, and nothing here loads Textual until the full-screen UI is opened.
"""

from __future__ import annotations

import sys

import click

from baton.tui.commands import (
    cases,
    decide,
    diff,
    export,
    fork,
    grants,
    hosts,
    inbox,
    lessons,
    listing,
    policy,
    remove,
    resume,
    routes,
    run,
    tools,
    workflows,
)
from baton.tui.commands.common import EXIT_HELP, db_path, tui_available


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
@click.option(
    "--db",
    envvar="BATON_DB",
    type=click.Path(readable=False),
    metavar="FILE",
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
        if tui_available() and sys.stdout.isatty() and sys.stdin.isatty():
            from baton.tui.app import open_home

            sys.exit(open_home(db_path(ctx)))
        click.echo(ctx.get_help())


for command in (
    run.run,
    run.step,
    resume.attach,
    resume.resume,
    listing.sessions,
    listing.show,
    listing.result,
    remove.rm,
    workflows.validate,
    tools.tools,
    decide.decide,
    inbox.inbox,
    hosts.host,
    hosts.hosts,
    grants.revoke,
    policy.policy,
    fork.fork,
    diff.diff,
    export.export,
    workflows.estimate,
    workflows.list_flows,
    workflows.doctor,
    cases.cases,
    lessons.lessons,
    routes.routes,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
