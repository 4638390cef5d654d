"""`baton diff A [B]`: two sessions side by side, step by step, and where they first diverge.

Exit codes follow `diff(1)`: 0 the sessions did the same, 1 they differ, 2 bad input (an unknown id, a
lone session that is not a fork). The report itself is `tui.diff_report`, shared with the Diff screen.
"""

from __future__ import annotations

import click

from baton.tui.commands.common import application, run

PIPE_WIDTH = 160
"""Columns the report may take when its output is not a terminal."""


@click.command()
@click.argument("a")
@click.argument("b", required=False)
@click.option("--json", "as_json", is_flag=True, help="The comparison as one JSON object.")
@click.option("--full", is_flag=True, help="Every diff and state value whole (not cut).")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str | None, as_json: bool, full: bool) -> None:
    """Compare session A with session B step by step: status, route, model, tokens, cost, time, output,
    state and decisions, and the first step where they diverge. With A alone, a fork against its parent.

    \b
    Exit codes: 0 the sessions did the same · 1 they differ · 2 invalid input (an unknown session …)
    """

    async def go() -> int:
        from baton.core.diff import compare
        from baton.core.jsonout import dumps
        from baton.tui.diff_report import report, sessions_to_compare

        async with application(ctx) as app:
            view_a, view_b = await sessions_to_compare(app, a, b)
        result = compare(view_a, view_b)
        if as_json:
            click.echo(dumps(result.to_json(), indent=1))
        else:
            from rich.console import Console

            console = Console(highlight=False)
            if not console.is_terminal:
                console.width = max(console.width, PIPE_WIDTH)  # a table is as wide as it needs when piped
            for part in report(result, full=full):
                console.print(part, soft_wrap=True)
        return 0 if result.same else 1

    run(go())
