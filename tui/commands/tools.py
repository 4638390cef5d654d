"""`baton tools FLOW`: every tool each agent of a workflow would be offered — its Python functions, the
tools of its MCP servers (started for the listing, then stopped), the agents it delegates to — with the
schema the model sees and the approval policy that applies."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click


@click.command()
@click.argument("flow")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per agent: {step, tools: [...]}.")
def tools(flow: str, as_json: bool) -> None:
    """List the tools every agent of FLOW would see, with schemas and approval policies."""
    from baton.core.spec.load import tool_problems
    from baton.sessions.errors import AppError
    from baton.tui.launch import LaunchError, config_or_exit, load_flow

    try:
        workflow = load_flow(flow, config_or_exit())
    except (LaunchError, AppError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(getattr(exc, "code", 2))
    broken = tool_problems(workflow)
    if broken:
        for problem in broken:
            click.echo(str(problem), err=True)
        sys.exit(2)
    sys.exit(asyncio.run(_list(workflow, as_json)))


async def _list(workflow: Any, as_json: bool) -> int:
    from baton.core.mcp.servers import McpServers
    from baton.core.runner.context import ConfigError
    from baton.core.runner.toolbox import build_toolbox
    from baton.core.runner.tools import resolve_tools
    from baton.core.spec.graph import iter_steps
    from baton.core.spec.model import AgentStep
    from baton.core.spec.tool_entry_checks import with_delegates
    from baton.tui.sanitize import inert as plain

    base_dir = workflow.folder
    try:
        functions = resolve_tools(workflow.spec, base_dir)
    except ConfigError as exc:
        click.echo(plain(str(exc)), err=True)
        return 2
    servers = McpServers()
    code = 0
    try:
        for info in with_delegates(iter_steps(workflow.spec)):
            step = info.step
            if not isinstance(step, AgentStep) or not step.tools:
                continue
            where = step.id if info.role != "delegate" else f"{info.parent}/{step.id}"
            try:
                box = await build_toolbox(step, where, functions, lambda: servers, None, None, base_dir)
            except Exception as exc:  # a server that does not start, a schema that cannot be built
                click.echo(f"{where}: {plain(str(getattr(exc, 'what', exc)))}", err=True)
                code = 1
                continue
            listed = [tool.listed() for tool in box.tools.values()]
            if as_json:
                click.echo(json.dumps({"step": where, "tools": listed}, ensure_ascii=False))
                continue
            click.echo(f"{where}  ({len(listed)} tool{'s' if len(listed) != 1 else ''})")
            for tool in listed:
                approval = tool["approval"] if isinstance(tool["approval"], str) else f"when {tool['approval']['when']}"
                asks = {"always": "asks first", "never": "runs without asking"}.get(approval, f"asks {approval}")
                origin = f"{tool['source']} {tool['origin']}"
                click.echo(f"  {plain(tool['name'])}  [{plain(origin)}]  {asks} — {plain(tool['why'])}")
                if tool["description"]:
                    click.echo(f"      {plain(str(tool['description']).splitlines()[0])}")
                click.echo(f"      schema: {plain(json.dumps(tool['schema'], ensure_ascii=False))}")
    finally:
        await servers.aclose()
    return code

