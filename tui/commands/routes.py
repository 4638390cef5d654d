"""`baton routes`: which model each step may use, taught by the decisions people made on its answers.

Per step and model: approvals, rejections (edits count as rejections) and retries on another model,
the acceptance rate and the mean cost of a call; a cheaper model judged often enough and accepted at least
as often is suggested with what it would have saved at the step's volume. `--apply` points the step's
alias at the suggested model in the config file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from baton.tui.commands.common import application, fail, run

if TYPE_CHECKING:
    from baton.core.learn.routes import ModelRecord, StepRoutes


@click.command()
@click.argument("flow", required=False)
@click.option(
    "--min",
    "minimum",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Decisions a cheaper model needs before it is suggested.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--apply", "apply", is_flag=True, help="Point each step's alias at its suggested model (config file).")
@click.option(
    "--live",
    "live",
    metavar="STEP",
    help="Send STEP's newest recorded request again to the candidate model and show both answers side by side.",
)
@click.option("--candidate", metavar="ALIAS", help="The model alias --live tries (default: the suggested one).")
@click.pass_context
def routes(
    ctx: click.Context,
    flow: str | None,
    minimum: int,
    as_json: bool,
    apply: bool,
    live: str | None,
    candidate: str | None,
) -> None:
    """Per step of FLOW (or of every workflow): each model's record in your decisions, and a cheaper model
    where that record supports one. With --live, a shadow run: STEP's recorded request on a candidate
    model, its answer beside the recorded one (a live call, recorded nowhere)."""
    if live is not None:
        if flow is None:
            fail("--live needs the workflow: baton routes FLOW --live STEP")
        run(_shadow(ctx, flow, live, candidate, minimum, as_json))

    async def go() -> int:
        from baton.core.jsonout import dumps
        from baton.sessions.routes import routes as read_routes

        async with application(ctx) as app:
            found = await read_routes(app.store, flow, minimum)
        applied = _apply(found) if apply else []
        if as_json:
            click.echo(
                dumps(
                    {
                        "workflow": flow,
                        "min": minimum,
                        "steps": [s.to_json() for s in found],
                        "applied": [{"alias": a, "model": m} for a, m in applied],
                    }
                )
            )
        else:
            _print(found, flow, minimum, applied, apply)
        return 0

    run(go())


async def _shadow(
    ctx: click.Context, flow: str, step: str, candidate: str | None, minimum: int, as_json: bool
) -> int:
    """Send the step's newest recorded request (on its current model) to the candidate, and show both."""
    import json

    from baton.core.config import ConfigInvalid, load_config, resolve_models
    from baton.core.jsonout import dumps
    from baton.core.learn.lessons import template
    from baton.core.learn.shadow import shadow_request, side_by_side
    from baton.core.llm.gateway import LiteLLMGateway
    from baton.core.llm.types import ModelError
    from baton.core.runner.shape import model_for
    from baton.core.spec.load import load_text
    from baton.core.spec.problems import WorkflowInvalid
    from baton.sessions.routes import recorded_call
    from baton.sessions.routes import routes as read_routes
    from baton.tui.sanitize import inert, one_line

    at = template(step)
    async with application(ctx) as app:
        found = next((s for s in await read_routes(app.store, flow, minimum) if s.step == at), None)
        if found is None:
            fail(f"no model calls of step '{one_line(at, 60)}' of '{one_line(flow, 60)}' in the store")
        alias = candidate or (found.suggestion.alias if found.suggestion else "")
        if not alias:
            why = one_line(found.why_not, 120)
            fail(f"no model suggested for '{one_line(at, 60)}' ({why}): name one with --candidate")
        recorded = await recorded_call(app.store, flow, at, found.current)
    if recorded is None:
        fail(f"no answered call of '{one_line(at, 60)}' on {one_line(found.current, 40)} is recorded")
    row, call = recorded
    try:
        config = load_config()
        spec = load_text(row.workflow_text, row.workflow_path, sorted(config.models)).spec
    except (ConfigInvalid, WorkflowInvalid) as exc:
        fail(str(exc))
    model = model_for(resolve_models(spec, config), alias)
    if model is None:
        fail(f"unknown model alias '{one_line(alias, 40)}'")
    request = shadow_request(json.loads(call.request), alias, model)
    llm = LiteLLMGateway()
    try:
        result = await llm.stream(request, lambda _: None, first_token_s=120.0, idle_s=120.0)
    except ModelError as exc:
        fail(f"{alias} failed: {exc}", code=1)
    spent = call.cost_usd
    if as_json:
        click.echo(
            dumps(
                {
                    "workflow": flow,
                    "step": at,
                    "session_id": row.id,
                    "recorded": {"alias": call.alias, "model": call.model, "text": call.response, "cost_usd": spent},
                    "shadow": {"alias": alias, "model": result.model, "text": result.text, "cost_usd": result.cost_usd},
                }
            )
        )
        return 0
    where = f"{one_line(flow, 60)} · {one_line(at, 60)}"
    click.echo(f"{where}: session {row.id}'s request, sent again to {one_line(alias, 40)}")
    left = (f"{call.alias} ({call.model}) · {_usd(call.cost_usd)} · recorded", inert(call.response))
    right = (f"{alias} ({model.model}) · {_usd(result.cost_usd)} · now", inert(result.text))
    for line in side_by_side(left, right):
        click.echo(line)
    return 0


def _apply(found: list[StepRoutes]) -> list[tuple[str, str]]:
    """Write every suggestion into the config file: the step's alias now names the suggested model."""
    from baton.core.config import ConfigInvalid, load_config, save_model_alias

    try:
        config = load_config()
    except ConfigInvalid as exc:
        fail(str(exc))
    chosen: dict[str, str] = {}
    for step in found:
        s = step.suggestion
        if s is None:
            continue
        if chosen.get(s.instead_of, s.model) != s.model:
            fail(f"steps that share alias '{s.instead_of}' are suggested different models: nothing was written")
        chosen[s.instead_of] = s.model
    try:
        for alias, model in chosen.items():
            save_model_alias(alias, model, config.path)
    except ConfigInvalid as exc:
        fail(str(exc))
    return list(chosen.items())


def _print(
    found: list[StepRoutes], flow: str | None, minimum: int, applied: list[tuple[str, str]], apply: bool
) -> None:
    from baton.tui.sanitize import one_line

    if not found:
        where = f" of '{one_line(flow, 60)}'" if flow else ""
        click.echo(f"no model calls{where} in the store yet")
        return
    for i, step in enumerate(found):
        click.echo(("\n" if i else "") + one_line(f"{step.workflow} · {step.step}", 100) + f"  ({step.volume} calls)")
        for record in step.models:
            mark = "*" if record.alias == step.current else " "
            click.echo(f"  {mark} {_line(record)}")
        s = step.suggestion
        if s is not None:
            use = f"{one_line(s.alias, 40)} ({one_line(s.model, 60)}) instead of {one_line(s.instead_of, 40)}"
            saves = f"{_usd(s.saving_per_call)} a call, {_usd(s.projected_savings)} at this step's {step.volume} calls"
            click.echo(f"  → use {use}: saves {saves}")
            click.echo(f"    {one_line(s.why, 200)}")
        else:
            click.echo(f"    no suggestion: {one_line(step.why_not, 200)}")
    click.echo(f"\n* the step's current model; a cheaper one is suggested after {minimum} decisions")
    for alias, model in applied:
        click.echo(f"applied: alias {one_line(alias, 40)} → {one_line(model, 60)} in the config file")
    if apply and not applied:
        click.echo("nothing to apply: no step has a suggestion")


def _line(record: ModelRecord) -> str:
    from baton.tui.sanitize import one_line

    accepted = f"{record.acceptance:.0%}" if record.acceptance is not None else "—"
    cost = _usd(record.mean_cost) if record.mean_cost is not None else "price unknown"
    name = one_line(f"{record.alias} ({record.model})", 48)
    return (
        f"{name:<48} approved {record.approved}  rejected {record.rejected}  retried away {record.retried}"
        f"  accepted {accepted:>4}  {cost} a call ({record.calls} calls)"
    )


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"
