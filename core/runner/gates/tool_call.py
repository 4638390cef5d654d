"""Before an agent's tool call runs, when its policy asks: the person sees the tool, where it comes
from, the arguments, why the policy asked, the tool's annotations, the turn and what the next model turn
is forecast to cost. They approve (in one key), edit the arguments (checked against the tool's schema),
reject with a message (the model gets it as the tool's result and goes on), deny (the step stops and a
checkpoint for it follows), or approve always for this session (a grant, optionally scoped by an
argument pattern). Unattended, `--auto approve` runs the call and `--auto reject` returns the rejection
to the model.

Verdicts: `Proceed` runs the call (with `args` when edited); `Rerun` returns `feedback` to the model;
`Skip` denies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask, Edit, Unattended
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Accept, Gate, Proceed, Rerun, Skip, Verdict
from baton.core.runner.runtime import Runtime
from baton.core.runner.toolbox import BoundTool
from baton.core.spec.tool_schema import check_args

TOOL_CALL_OPTIONS = ["approve", "edit", "reject", "deny", "always", "pause"]


@dataclass
class ToolCallApproval(Gate):
    """Run `tool` with `args`? One checkpoint per call (`key`: turn and call id)."""

    path: str
    round: int
    turn: int
    call_id: str
    tool: BoundTool
    args: dict[str, Any]
    why: str
    forecast_next: list[float] | None
    forecasts: dict[str, Any]
    edit: Edit
    sequence: int

    def ask(self, rt: Runtime) -> Ask:
        tool = self.tool
        where = {"python": "Python", "mcp": "MCP server", "agent": "sub-agent"}.get(tool.source, tool.source)
        shown = json.dumps(self.args, ensure_ascii=False)
        return Ask(
            self.path,
            "tool_call",
            message=f"turn {self.turn}: call {tool.name}({_short(shown)}) from {where} {tool.origin} — {self.why}",
            output=self.args,
            context={
                "tool": tool.name,
                "source": tool.source,
                "origin": tool.origin,
                "args": self.args,
                "schema": tool.schema,
                "why": self.why,
                "annotations": tool.annotations,
                "side_effects": tool.side_effects,
                "turn": self.turn,
                "round": self.round,
                "call_id": self.call_id,
                "forecast_next": self.forecast_next,
            },
            options=list(TOOL_CALL_OPTIONS),
            forecasts=self.forecasts,
            round=self.round,
            edit=self.edit,
            key=f"t{self.turn}:{self.call_id}",
            lookup=[f"{self.path}:tool_call:{tool.name}"],
            sequence=self.sequence,
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, args=dict(decision.edited))
        if decision.decision == "reject":
            return Rerun(decision, feedback=decision.feedback)
        if decision.decision == "deny":
            return Skip(decision)
        return Proceed(decision)


@dataclass
class ToolDenied(Gate):
    """A person denied a tool call and stopped the step: what now? Run the agent again with feedback,
    supply the step's output, skip it, or reroute. Unattended, the session pauses for a person."""

    path: str
    round: int
    tool: str
    message: str
    edit: Edit
    can_reroute: bool
    degrades_on_skip = True

    def ask(self, rt: Runtime) -> Ask:
        targets = rt.reroute_targets(self.path) if self.can_reroute else []
        return Ask(
            self.path,
            "tool_denied",
            message=f"the call of '{self.tool}' was denied"
            + (f": {self.message}" if self.message else "")
            + ". Run the agent again with feedback, supply its output, or skip it.",
            context={"tool": self.tool, "feedback": self.message},
            options=["reject", "edit", "skip", "pause"] + (["reroute"] if targets else []),
            targets=targets,
            round=self.round,
            edit=self.edit,
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended("pause", f"a tool call at '{self.path}' was denied: a person must decide"),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Accept(decision, decision.edited)
        if decision.decision == "reject":
            return Rerun(decision, feedback=decision.feedback)
        return super().apply(decision)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Question(Gate):
    """An MCP server asks the person something in the middle of a tool call (elicitation): answer it
    (a JSON object checked against the schema the server gave) or decline. Unattended, it is declined."""

    path: str
    round: int
    tool: str
    server: str
    message: str
    schema: dict[str, Any]
    key: str

    def ask(self, rt: Runtime) -> Ask:
        return Ask(
            self.path,
            "elicitation",
            message=f"the MCP server {self.server} asks, during the call of {self.tool}: {self.message}",
            context={"tool": self.tool, "server": self.server, "question": self.message, "schema": self.schema},
            options=["edit", "reject", "pause"],
            round=self.round,
            edit=_answer(self.schema),
            key=self.key,
            unattended=Unattended("pause", "a server's question needs a person", decision="reject"),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Accept(decision, decision.edited)
        return Skip(decision)


def _answer(schema: dict[str, Any]) -> Edit:
    """An answer to a server's question: a JSON object that fits the schema it asked with."""

    def edit(value: Any) -> tuple[Any, str]:
        value = edits.parsed_json(value, "the answer must be a JSON object")
        try:
            return check_args(schema, value), ""
        except ValueError as exc:
            raise ValueError(f"the answer does not fit the question: {exc}") from None

    return edit
