"""`baton validate`, `baton estimate`, `baton flows` and `baton doctor`: workflows and set-up before any
session runs."""

from __future__ import annotations

import sys

import click

from baton.tui.commands.common import db_location, fail


@click.command()
@click.argument("flows", nargs=-1, required=True)
def validate(flows: tuple[str, ...]) -> None:
    """Check workflow files: `file:line:col: message` per problem, exit 2 if any."""
    from baton.core.config import known_aliases
    from baton.core.spec.load import load_workflow, tool_problems
    from baton.core.spec.problems import WorkflowInvalid
    from baton.sessions.app import config, resolve_flow
    from baton.sessions.app.workflows import FileRefused
    from baton.sessions.errors import AppError

    try:
        aliases = known_aliases(config())
    except AppError as exc:
        fail(str(exc), exc.code)
    failed = False
    for name in flows:
        try:
            path = resolve_flow(name)
            workflow = load_workflow(path, aliases)
        except FileRefused as exc:
            click.echo(str(exc))
            failed = True
            continue
        except AppError as exc:
            click.echo(f"{name}:1:1: {exc}")
            failed = True
            continue
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                click.echo(str(problem))
            failed = True
            continue
        broken_tools = tool_problems(workflow)
        for problem in sorted([*workflow.warnings, *broken_tools]):
            click.echo(str(problem))
        if broken_tools:
            failed = True
            continue
        spec = workflow.spec
        kinds = sorted({s.kind for s in spec.steps})
        click.echo(
            f"{path}: ok — '{spec.name}': {len(spec.steps)} top-level steps ({', '.join(kinds)}), "
            f"{len(spec.state)} state keys, {len(spec.inputs)} inputs"
        )
    sys.exit(2 if failed else 0)


@click.command()
@click.argument("flow")
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A workflow input (repeatable).")
@click.option("--runs", default=1000, show_default=True, help="Project the cost at this many runs.")
@click.option("--model", "models", multiple=True, metavar="ALIAS=MODEL", help="Point a model alias elsewhere.")
@click.option("--json", "as_json", is_flag=True, help="The estimate as JSON.")
def estimate(flow: str, inputs: tuple[str, ...], runs: int, models: tuple[str, ...], as_json: bool) -> None:
    """A per-step and total cost range for FLOW, before running it."""
    from baton.sessions.app import model_overrides
    from baton.sessions.errors import AppError

    try:
        overrides = model_overrides(models)
    except AppError as exc:
        fail(str(exc), exc.code)
    sys.exit(_print_estimate(flow, list(inputs), runs, overrides, as_json))


def _print_estimate(flow: str, inputs: list[str], runs: int, models: dict[str, str], json_out: bool) -> int:
    """Print the estimate; returns the exit code (2 for a bad workflow or input)."""
    import asyncio

    from rich.console import Console

    from baton.core.config import resolve_models
    from baton.core.jsonout import dumps
    from baton.core.llm.gateway import LiteLLMGateway
    from baton.tui.estimate import as_json
    from baton.tui.estimate import estimate as estimate_cost
    from baton.tui.estimate_view import render
    from baton.tui.launch import LaunchError, config_or_exit, load_flow, parse_inputs

    try:
        config = config_or_exit()
        workflow = load_flow(flow, config)
        values = parse_inputs(workflow, inputs)
    except LaunchError as exc:
        click.echo(str(exc), err=True)
        return exc.code
    llm = LiteLLMGateway()
    asyncio.run(llm.warm_up())
    result = estimate_cost(workflow, resolve_models(workflow.spec, config, models), llm, values, runs)
    if json_out:
        click.echo(dumps(as_json(result)))
    else:
        Console(highlight=False).print(render(result))
    return 0


@click.command(name="flows")
def list_flows() -> None:
    """List bundled and local workflows."""
    from baton.sessions.app import bundled_flows, local_flows

    for path in bundled_flows():
        click.echo(f"{path.stem:16} (bundled) {path}")
    for path in local_flows():
        click.echo(f"{path.stem:16} (local)   {path}")


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check model keys, local model servers, the session store and the terminal; say what to do.

    Exit 0 when all is well, 1 when a problem was found.
    """
    from baton.tui.doctor import run_doctor

    sys.exit(run_doctor(db_location(ctx)))
