"""Checks of what an agent may call: tool names the model can tell apart, a `tool_choice` that names one of
them, approval rules that parse, and delegated sub-agents checked like every other agent.

A delegated sub-agent is a step the flow graph does not hold (it runs when a model decides, as a child of the
agent that delegates), so `with_delegates` adds each one after its agent for the checks that apply to any
step. Whether a Python tool imports and can be described to a model is checked in a child process
(`tool_check`); MCP tools are not known until their server runs, so a name only they could supply is not
flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from baton.core import expr
from baton.core.spec.agent_tools import ApprovalWhen, FunctionTool, McpTools
from baton.core.spec.findings import Finding, suggest
from baton.core.spec.graph import DataPath, StepInfo
from baton.core.spec.model import AgentStep, DelegateTool, Step

CHOICE_MODES = ("auto", "required", "none")


def with_delegates(infos: Iterable[StepInfo]) -> Iterator[StepInfo]:
    """Every step of `infos`, each agent followed by the sub-agents it delegates to (at any depth)."""
    for info in infos:
        yield info
        yield from delegates(info)


def delegates(info: StepInfo) -> Iterator[StepInfo]:
    """The sub-agents an agent delegates to, depth first; each sits at its entry's `step` field."""
    step = info.step
    if not isinstance(step, AgentStep):
        return
    for i, entry in enumerate(step.tools):
        if isinstance(entry, DelegateTool):
            where = (*info.data_path, "tools", i, "step")
            sub = StepInfo(entry.step, where, step.id, "delegate", info.top_index, ("task",))
            yield sub
            yield from delegates(sub)


def delegated(step: Step) -> list[AgentStep]:
    """The sub-agents an agent hands tasks to (none for other steps)."""
    if not isinstance(step, AgentStep):
        return []
    return [entry.step for entry in step.tools if isinstance(entry, DelegateTool)]


def function_tools(infos: Iterable[StepInfo]) -> Iterator[tuple[FunctionTool, DataPath]]:
    """Every Python tool of every agent (delegated ones included), with the path of its entry."""
    for info in with_delegates(infos):
        if isinstance(info.step, AgentStep):
            for i, entry in enumerate(info.step.tools):
                if isinstance(entry, FunctionTool):
                    yield entry, (*info.data_path, "tools", i)


def agent_tools(info: StepInfo) -> list[Finding]:
    """The findings about one agent's tool entries and tool fields."""
    step = info.step
    if not isinstance(step, AgentStep):
        return []
    return [*_duplicate_names(step, info.data_path), *_tool_choice(step, info.data_path), *_approvals(step, info)]


def _name_at(entry: FunctionTool | DelegateTool, path: DataPath) -> DataPath:
    if isinstance(entry, DelegateTool):
        return (*path, "step", "id")
    return (*path, "name") if entry.name is not None else (*path, "call")


def _duplicate_names(step: AgentStep, path: DataPath) -> list[Finding]:
    """Two tools of one agent under one name: the model could not say which it calls."""
    seen: dict[str, int] = {}
    out = []
    for i, entry in enumerate(step.tools):
        if isinstance(entry, McpTools):
            continue
        name = entry.tool_name
        if name in seen:
            fix = "give the sub-agent another id" if isinstance(entry, DelegateTool) else "give it another 'name'"
            out.append(
                Finding(
                    _name_at(entry, (*path, "tools", i)),
                    f"agent '{step.id}' already has a tool named '{name}' (tools[{seen[name]}]): {fix}",
                )
            )
        else:
            seen[name] = i
    return out


def _tool_choice(step: AgentStep, path: DataPath) -> list[Finding]:
    choice = step.tool_choice
    if choice is None or choice in ("auto", "none"):
        return []
    at = (*path, "tool_choice")
    if not step.tools:
        return [Finding(at, f"tool_choice '{choice}' needs tools, and agent '{step.id}' has none")]
    if choice == "required" or any(isinstance(e, McpTools) for e in step.tools):
        return []  # an MCP server's tools are known once it runs
    names = list(dict.fromkeys(e.tool_name for e in step.tools if not isinstance(e, McpTools)))
    if choice in names:
        return []
    return [
        Finding(
            at,
            f"tool_choice '{choice}' is not a tool of agent '{step.id}'{suggest(choice, names)}: "
            f"its tools are {', '.join(names)} (or use {', '.join(CHOICE_MODES)})",
        )
    ]


def _approvals(step: AgentStep, info: StepInfo) -> list[Finding]:
    """`approval: {when: ...}` rules that do not parse (the names they use are checked against a Python
    tool's parameters once its schema is built)."""
    out = []
    for i, entry in enumerate(step.tools):
        approval = entry.approval
        if isinstance(approval, ApprovalWhen):
            try:
                expr.parse(approval.when)
            except expr.ExprError as exc:
                out.append(Finding((*info.data_path, "tools", i, "approval", "when"), f"approval.when: {exc}"))
    return out
