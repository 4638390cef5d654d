"""`baton export`: a session as OpenTelemetry GenAI spans, one JSON object a line."""

from __future__ import annotations

from typing import Any

import click

from baton.tui.commands.common import application, run


@click.command()
@click.argument("session")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--content", is_flag=True, help="Include prompts and answers (off by default).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="Where to write (default: stdout).")
@click.pass_context
def export(ctx: click.Context, session: str, fmt: str, content: bool, output: Any) -> None:
    """Export a session as OpenTelemetry GenAI spans, one JSON object a line."""

    async def go() -> int:
        import json

        from baton.core.export import spans
        from baton.core.secrets import redact

        async with application(ctx) as app:
            view = (await app.open(session)).view
        for span in spans(view, content=content):
            output.write(redact(json.dumps(span, ensure_ascii=False, default=str)) + "\n")
        return 0

    run(go())
