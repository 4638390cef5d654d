"""The tools an agent is offered, and whether a call of one needs a person's approval first.

An agent's toolbox is built the first time it runs — Python functions (schema from the signature and
docstring), the tools of its MCP servers (filtered and prefixed), the agents it may delegate to — and
recorded as `ToolsListed`: a resumed session offers exactly the list the model saw, even if a server
has changed since. The approval policy of a call: a grant a person gave for the session runs it; else
the tool's `approval` (`default` is resolved when the toolbox is built: side effects ask, an MCP tool
marked read-only does not, one marked destructive or not marked at all asks).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baton.core import events as ev
from baton.core import expr
from baton.core.policy.rules import EXPLICIT_ALWAYS
from baton.core.runner.context import ConfigError
from baton.core.runner.journal import Journal
from baton.core.spec.agent_tools import Approval, ApprovalWhen, FunctionTool, McpServer, McpTools
from baton.core.spec.model import AgentStep, DelegateTool
from baton.core.spec.tool_schema import ToolSchemaError, function_schema

if TYPE_CHECKING:
    from baton.core.mcp.servers import McpServers, ServerTool

TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "The sub-task, with everything needed to do it."}},
    "required": ["task"],
}


@dataclass(frozen=True)
class BoundTool:
    """One tool as an agent's model sees it, with where it comes from and when a call asks first.
    `approval` is `always`, `never` or an expression; `why` says where that came from."""

    name: str
    source: str
    origin: str
    description: str
    schema: dict[str, Any]
    side_effects: bool
    approval: str | ApprovalWhen
    why: str
    entry: int
    target: str
    annotations: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    max_result_chars: int | None = None
    bound: dict[str, Any] = field(default_factory=dict)
    """Arguments the workflow gives (templates over the step's reads), hidden from the model."""

    def offered(self) -> dict[str, Any]:
        """The tool in a request (OpenAI's function-tool shape)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.schema},
        }

    def listed(self) -> dict[str, Any]:
        """The tool as `ToolsListed` records it."""
        approval = self.approval if isinstance(self.approval, str) else {"when": self.approval.when}
        return {
            "name": self.name,
            "source": self.source,
            "origin": self.origin,
            "description": self.description,
            "schema": self.schema,
            "approval": approval,
            "why": self.why,
            "side_effects": self.side_effects,
            "annotations": self.annotations,
            "entry": self.entry,
            "target": self.target,
            "timeout_s": self.timeout_s,
            "max_result_chars": self.max_result_chars,
            "bound": self.bound,
        }

    @classmethod
    def from_listed(cls, data: Mapping[str, Any]) -> BoundTool:
        """Back from its record."""
        approval = data.get("approval", "always")
        return cls(
            name=str(data["name"]),
            source=str(data.get("source", "python")),
            origin=str(data.get("origin", "")),
            description=str(data.get("description", "")),
            schema=dict(data.get("schema") or {}),
            side_effects=bool(data.get("side_effects", True)),
            approval=ApprovalWhen(when=approval["when"]) if isinstance(approval, dict) else str(approval),
            why=str(data.get("why", "")),
            entry=int(data.get("entry", 0)),
            target=str(data.get("target", "")),
            annotations=dict(data.get("annotations") or {}),
            timeout_s=data.get("timeout_s"),
            max_result_chars=data.get("max_result_chars"),
            bound=dict(data.get("bound") or {}),
        )


class Toolbox:
    """An agent's tools by the name its model calls them. `base_dir` is the workflow's folder."""

    def __init__(self, step: AgentStep, tools: Iterable[BoundTool], base_dir: str | None = None) -> None:
        self.step = step
        self.tools = {tool.name: tool for tool in tools}
        self.base_dir = base_dir

    def offered(self) -> list[dict[str, Any]]:
        """Every tool, for the request."""
        return [tool.offered() for tool in self.tools.values()]

    def server(self, tool: BoundTool) -> McpServer:
        """The MCP server a tool of source `mcp` lives on."""
        entry = self.step.tools[tool.entry]
        assert isinstance(entry, McpTools)
        return launchable(entry.mcp, self.base_dir)

    def delegate(self, tool: BoundTool) -> DelegateTool:
        """The sub-agent a tool of source `agent` hands work to."""
        entry = self.step.tools[tool.entry]
        assert isinstance(entry, DelegateTool)
        return entry


async def build_toolbox(
    step: AgentStep,
    path: str,
    functions: Mapping[str, Any],
    mcp: Callable[[], McpServers],
    journal: Journal | None,
    recorded: ev.ToolsListed | None,
    base_dir: str | None = None,
) -> Toolbox:
    """The agent's toolbox: as recorded, or listed now (and recorded when there is a journal)."""
    if recorded is not None:
        return Toolbox(step, [BoundTool.from_listed(t) for t in recorded.tools], base_dir)
    tools: list[BoundTool] = []
    for index, entry in enumerate(step.tools):
        if isinstance(entry, FunctionTool):
            tools.append(_function_tool(index, entry, functions))
        elif isinstance(entry, McpTools):
            listed = await mcp().list_tools(launchable(entry.mcp, base_dir))
            tools.extend(_server_tools(index, entry, listed))
        else:
            tools.append(_delegate_tool(index, entry))
    names: set[str] = set()
    for tool in tools:
        if tool.name in names:
            raise ConfigError(f"agent '{path}' is offered two tools named '{tool.name}' (use 'prefix' or 'name')")
        names.add(tool.name)
    if journal is not None:
        journal.note([ev.ToolsListed(step=path, tools=[tool.listed() for tool in tools])])
    return Toolbox(step, tools, base_dir)


def launchable(server: McpServer, base_dir: str | None) -> McpServer:
    """A stdio server as it is started: in the workflow's folder unless `cwd` says otherwise (a relative
    `cwd` is taken from that folder), and `python` meaning the Python baton runs on."""
    if server.command is None:
        return server
    cwd = server.cwd
    if base_dir is not None:
        cwd = os.path.join(base_dir, cwd) if cwd else base_dir
    command = list(server.command)
    if command[0] in ("python", "python3"):
        command[0] = sys.executable
    if cwd == server.cwd and command == server.command:
        return server
    return server.model_copy(update={"cwd": cwd, "command": command})


def _function_tool(index: int, entry: FunctionTool, functions: Mapping[str, Any]) -> BoundTool:
    try:
        schema = function_schema(functions[entry.call], entry.tool_name, entry.description)
    except ToolSchemaError as exc:
        raise ConfigError(f"tool '{entry.call}': {exc}") from None
    approval, why = _resolved(entry.approval, entry.side_effects, "it has side effects", "it has no side effects")
    return BoundTool(
        name=schema.name,
        source="python",
        origin=entry.call,
        description=schema.description,
        schema=_without(schema.parameters, entry),
        side_effects=entry.side_effects,
        approval=approval,
        why=why,
        entry=index,
        target=entry.call,
        annotations={"destructiveHint": True} if entry.destructive else {},
        timeout_s=entry.timeout_s,
        max_result_chars=entry.max_result_chars,
        bound=dict(entry.args),
    )


def _without(parameters: dict[str, Any], entry: FunctionTool) -> dict[str, Any]:
    """The schema the model sees: without the arguments the workflow gives."""
    if not entry.args:
        return parameters
    properties = dict(parameters.get("properties") or {})
    unknown = sorted(set(entry.args) - set(properties))
    if unknown:
        raise ConfigError(
            f"tool '{entry.call}': 'args' gives {', '.join(map(repr, unknown))}, which it does not take "
            f"(its parameters: {', '.join(properties) or 'none'})"
        )
    required = [name for name in parameters.get("required") or [] if name not in entry.args]
    out = {**parameters, "properties": {k: v for k, v in properties.items() if k not in entry.args}}
    if required:
        out["required"] = required
    else:
        out.pop("required", None)
    return out


def _server_tools(index: int, entry: McpTools, listed: list[ServerTool]) -> list[BoundTool]:
    out = []
    for tool in listed:
        name = entry.exposed(tool.name)
        if name is None:
            continue
        notes = tool.annotations
        read_only = notes.get("readOnlyHint") is True and notes.get("destructiveHint") is not True
        if notes.get("destructiveHint") is True:
            marked = "the server marks it destructive"
        elif read_only:
            marked = "the server marks it read-only"
        else:
            marked = "the server does not mark it read-only"
        approval, why = _resolved(entry.approval or "default", not read_only, marked, marked)
        out.append(
            BoundTool(
                name=name,
                source="mcp",
                origin=entry.mcp.label,
                description=tool.description,
                schema=tool.input_schema or {"type": "object", "properties": {}},
                side_effects=not read_only,
                approval=approval,
                why=why,
                entry=index,
                target=tool.name,
                annotations=dict(notes),
                timeout_s=entry.timeout_s,
                max_result_chars=entry.max_result_chars,
            )
        )
    return out


def _delegate_tool(index: int, entry: DelegateTool) -> BoundTool:
    sub = entry.step
    description = entry.description or sub.description or f"Hand a sub-task to the agent '{sub.id}'."
    approval, why = _resolved(entry.approval, False, "", "the sub-agent asks at its own checkpoints")
    return BoundTool(
        name=entry.tool_name,
        source="agent",
        origin=sub.id,
        description=description,
        schema=TASK_SCHEMA,
        side_effects=False,
        approval=approval,
        why=why,
        entry=index,
        target=sub.id,
        max_result_chars=entry.max_result_chars,
    )


def _resolved(approval: Approval, side_effects: bool, asks: str, runs: str) -> tuple[str | ApprovalWhen, str]:
    """(`always` | `never` | the expression, why) with `default` resolved."""
    if approval == "default":
        return ("always", asks) if side_effects else ("never", runs)
    if approval == "always":
        return "always", EXPLICIT_ALWAYS
    if approval == "never":
        return "never", "its approval is 'never'"
    assert isinstance(approval, ApprovalWhen)
    return approval, f"approval.when: {approval.when}"


# --- grants and the policy -------------------------------------------------------------------------


class Grants:
    """Always-for-this-session grants, in the order they were given and revoked."""

    def __init__(self, recorded: Iterable[ev.ToolGrantChanged] = ()) -> None:
        self.active: list[ev.ToolGrantChanged] = []
        for change in recorded:
            self.apply(change)

    def apply(self, change: ev.ToolGrantChanged) -> None:
        """A grant given or revoked."""
        self.active = [g for g in self.active if not (g.tool == change.tool and g.pattern == change.pattern)]
        if change.granted:
            self.active.append(change)

    def covering(self, tool: str, args: Mapping[str, Any]) -> ev.ToolGrantChanged | None:
        """The grant that lets this call run without asking, if any."""
        for grant in self.active:
            if grant.tool == tool and all(_matches(args.get(k), glob) for k, glob in grant.pattern.items()):
                return grant
        return None


def _matches(value: Any, glob: str) -> bool:
    if value is None:
        return False
    return fnmatch.fnmatchcase(value if isinstance(value, str) else str(value), glob)


def policy(tool: BoundTool, args: Mapping[str, Any], grants: Grants) -> tuple[str, str]:
    """(run | ask | granted, why) for a call of `tool` with `args`."""
    if tool.approval == "never":
        return "run", tool.why
    if isinstance(tool.approval, ApprovalWhen):
        try:
            asks = bool(expr.parse(tool.approval.when).evaluate(dict(args)))
        except expr.ExprError as exc:
            asks, why = True, f"approval.when could not be evaluated ({exc}): asking"
        else:
            why = f"approval.when is {'true' if asks else 'false'}: {tool.approval.when}"
        if not asks:
            return "run", why
    else:
        why = tool.why
    grant = grants.covering(tool.name, args)
    if grant is not None:
        scope = ", ".join(f"{k}={v}" for k, v in grant.pattern.items())
        return "granted", f"always allowed for this session by {grant.by}" + (f" ({scope})" if scope else "")
    return "ask", why
