"""A tool-calling agent's session written into a real store, event by event, for the viewers' tests.

`tool_loop` is what a runner records for an agent that searched and read in its first turn, then asked to
write two files (two `tool_call` checkpoints open at once). `Answerer` holds the session's lease, so
viewers see a live session, and answers each decision command the way the runner's checkpoint inbox does
at its boundary — a decision not offered, a rejection without a message or an edit the test refuses is
refused with its reason; anything else is persisted as `DecisionMade` with what follows it (the call's
result, a grant) and the command marked done. What a decision does to the tool loop itself is the
runner's, tested with the real runner in tests/core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.view import CheckpointView
from baton.sessions.store import Store

STEP = "research"
OPTIONS = ["approve", "edit", "reject", "deny", "always", "pause"]
RESULT = "3 notes found:\nnote-1 grid batteries\nnote-2 pumped hydro\nnote-3 flywheels\nnote-4 hydrogen"
SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
    "required": ["path", "text"],
}
WORKFLOW = """
name: tool-loop
state:
  topic: {type: str}
  report: {type: str}
models:
  fast: {model: mock/fast}
steps:
  - id: research
    kind: agent
    model: fast
    reads: [topic]
    writes: [report]
    prompt: "Research {topic}"
"""


def call_ended(call_id: str, tool: str, outcome: str, result: Any = None, error: str = "") -> ev.ToolCallFinished:
    """A tool call's record, 12 ms after it started."""
    return ev.ToolCallFinished(
        step=STEP,
        tool=tool,
        idempotency_key=f"k:{call_id}",
        ok=outcome in ("done", "supplied"),
        result=result,
        error=error,
        latency_s=0.012,
        call_id=call_id,
        outcome=outcome,
    )


def model_turn(number: int, text: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[ev.Event]:
    """One turn of the agent's model, asking for `calls` (id, tool, arguments)."""
    call_id = f"{STEP}-t{number}"
    return [
        ev.LLMCallStarted(step=STEP, call_id=call_id, model="mock/fast", alias="fast", turn=number),
        ev.LLMCallFinished(
            step=STEP,
            call_id=call_id,
            model="mock/fast",
            alias="fast",
            text=text,
            tokens_in=100,
            tokens_out=20,
            cost_usd=0.0015,
            latency_s=0.4,
            tool_calls=[{"id": i, "name": n, "arguments": json.dumps(a)} for i, n, a in calls],
            turn=number,
        ),
    ]


def requested(call_id: str, tool: str, args: dict[str, Any], policy: str, turn: int, source: str = "mcp") -> ev.Event:
    """The runner took a call up."""
    return ev.ToolCallRequested(
        step=STEP,
        call_id=call_id,
        idempotency_key=f"k:{call_id}",
        tool=tool,
        source=source,
        origin="files" if source == "mcp" else "notes_tools:search",
        args=args,
        args_digest="sha256:0",
        policy=policy,
        reason="its approval is 'always'" if policy == "ask" else "read-only",
        turn=turn,
    )


def asked(call_id: str, args: dict[str, Any], turn: int = 2) -> ev.CheckpointOpened:
    """A `tool_call` checkpoint, as the runner's gate opens it."""
    return ev.CheckpointOpened(
        step=STEP,
        checkpoint_id=f"{STEP}:tool_call:1:t{turn}:{call_id}",
        reason="tool_call",
        message=f"turn {turn}: call write_file({json.dumps(args)}) from MCP server files — its approval is 'always'",
        output=args,
        context={
            "tool": "write_file",
            "source": "mcp",
            "origin": "files",
            "args": args,
            "schema": SCHEMA,
            "why": "its approval is 'always'",
            "annotations": {"destructiveHint": True, "title": "Write a file"},
            "side_effects": True,
            "turn": turn,
            "round": 1,
            "call_id": call_id,
            "forecast_next": [0.0012, 0.0034],
        },
        options=list(OPTIONS),
        forecasts={"fast": [0.0012, 0.0034]},
    )


REPORT = {"path": "reports/grid.md", "text": "# Grid storage\n\nBatteries lead."}
EXTRA = {"path": "reports/extra.md", "text": "More."}


def tool_loop(tool: str = "search", query: str = "grid storage", result: Any = RESULT) -> list[ev.Event]:
    """An agent in its second turn, waiting for approval of two writes."""
    return [
        ev.SessionStarted(workflow="tool-loop", workflow_text=WORKFLOW, models={"fast": "mock/fast"}),
        ev.StepStarted(step=STEP, step_kind="agent", model="fast"),
        ev.ToolsListed(
            step=STEP,
            tools=[
                {"name": tool, "source": "python", "origin": "notes_tools:search", "approval": "never"},
                {"name": "read_file", "source": "mcp", "origin": "files", "approval": "never"},
                {"name": "write_file", "source": "mcp", "origin": "files", "approval": "always", "side_effects": True},
            ],
        ),
        *model_turn(1, "I will search the notes first.", [("c1", tool, {"q": query}), ("c2", "read_file", {})]),
        requested("c1", tool, {"q": query}, "run", 1, source="python"),
        requested("c2", "read_file", {"path": "notes/x.md"}, "run", 1),
        call_ended("c1", tool, "done", result),
        call_ended("c2", "read_file", "failed", error="file not found: notes/x.md"),
        *model_turn(2, "Writing the report now.", [("c3", "write_file", REPORT), ("c4", "write_file", EXTRA)]),
        requested("c3", "write_file", REPORT, "ask", 2),
        requested("c4", "write_file", EXTRA, "ask", 2),
        asked("c3", REPORT),
        asked("c4", EXTRA),
    ]


def finished_loop() -> list[ev.Event]:
    """The same agent, its writes approved and done, its report written: the session completed."""
    return [
        *tool_loop(),
        ev.DecisionMade(step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t2:c3", decision="approve", by="ann"),
        call_ended("c3", "write_file", "done", "wrote reports/grid.md"),
        ev.DecisionMade(
            step=STEP, checkpoint_id=f"{STEP}:tool_call:1:t2:c4", decision="reject", by="ann", feedback="one file"
        ),
        call_ended("c4", "write_file", "rejected", "one file"),
        *model_turn(3, "The report is in reports/grid.md.", []),
        ev.StepOutput(step=STEP, output="The report is in reports/grid.md."),
        ev.StepCompleted(step=STEP, output="The report is in reports/grid.md.", writes={"report": "done"}),
        ev.SessionCompleted(status="completed"),
    ]


async def stored(store: Store, events: list[ev.Event]) -> str:
    """A session whose record is `events`; returns its id."""
    session_id = await store.create_session(
        "tool-loop", workflow_path="<tool-loop>", workflow_hash="0", workflow_text=WORKFLOW, inputs={}, options={}
    )
    await store.append(session_id, 1, events)
    return session_id


Refusal = Callable[[Command, CheckpointView], str | None]


@dataclass
class Answerer:
    """Holds a stored session's lease and answers its decision commands (see the module's docstring)."""

    store: Store
    session_id: str
    refuse: Refusal | None = None
    commands: list[Command] = field(default_factory=list)
    _token: str = ""
    _task: asyncio.Task[None] | None = None

    async def start(self) -> Answerer:
        """Take the lease and start answering."""
        self._token = await self.store.acquire_lease(self.session_id)
        self._task = asyncio.create_task(self._answer_all())
        return self

    async def stop(self) -> None:
        """Stop answering and give the session up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._token:
            await self.store.release_lease(self.session_id, self._token)

    async def decided(self, count: int, timeout: float = 20.0) -> list[ev.DecisionMade]:
        """Wait for `count` decisions in the record; returns them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            made = [e.event for e in await self.store.events(self.session_id) if isinstance(e.event, ev.DecisionMade)]
            if len(made) >= count or loop.time() > deadline:
                return made
            await asyncio.sleep(0.02)

    async def _answer_all(self) -> None:
        while True:
            for command in await self.store.pending_commands(self.session_id):
                self.commands.append(command)
                await self._answer(command)
            await asyncio.sleep(0.02)

    async def _answer(self, c: Command) -> None:
        view = await self.store.view(self.session_id)
        cp = view.checkpoints.get(c.checkpoint_id)
        if c.kind != "decide" or cp is None or not cp.is_open:
            await self.store.reject_command(c.id, f"no open checkpoint '{c.checkpoint_id}'")
            return
        if c.decision not in cp.options:
            await self.store.reject_command(c.id, f"'{c.decision}' is not offered here")
            return
        refused = self.refuse(c, cp) if self.refuse is not None else None
        if c.decision == "reject" and not c.feedback.strip():
            refused = "a rejection needs a message for the model"
        if refused:
            await self.store.reject_command(c.id, refused)
            return
        events: list[ev.Event] = [
            ev.DecisionMade(
                step=cp.step,
                checkpoint_id=cp.checkpoint_id,
                decision=c.decision,
                by=c.by,
                feedback=c.feedback,
                edited=c.edited,
                command_id=c.id,
            )
        ]
        events += _what_follows(c, cp)
        await self.store.append(self.session_id, view.last_seq + 1, events, command_ids=[c.id])


def _what_follows(c: Command, cp: CheckpointView) -> list[ev.Event]:
    call_id, tool = str(cp.context.get("call_id")), str(cp.context.get("tool"))
    if c.decision == "always":
        pattern = c.edited if isinstance(c.edited, dict) else {}
        grant = ev.ToolGrantChanged(step=cp.step, tool=tool, pattern=pattern, granted=True, by=c.by)
        return [grant, call_ended(call_id, tool, "done", "written")]
    if c.decision in ("approve", "edit"):
        return [call_ended(call_id, tool, "done", "written")]
    if c.decision == "reject":
        return [call_ended(call_id, tool, "rejected", c.feedback)]
    return []
