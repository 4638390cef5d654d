"""`baton export`: a session as OpenTelemetry GenAI spans, one JSON object a line."""

from __future__ import annotations

from pathlib import Path

import click

from baton.tui.commands.common import application, fail, run


@click.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--content", is_flag=True, help="Include prompts and answers (off by default; the file is then 0600).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Where to write (default: stdout).",
)
@click.pass_context
def export(ctx: click.Context, session: str, fmt: str, content: bool, output: str) -> None:
    """Export a session as OpenTelemetry GenAI spans, one JSON object a line."""

    async def go() -> int:
        from baton.core.export import spans, write_lines
        from baton.core.jsonout import dumps

        async with application(ctx) as app:
            view = (await app.open(session)).view
        lines = (dumps(span) for span in spans(view, content=content))
        if output == "-":
            for line in lines:
                click.echo(line)
            return 0
        try:
            write_lines(Path(output), lines, private=content)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror or exc}")
        return 0

    run(go())
