"""`--json`: the event stream as JSON lines, and decisions read from stdin, so a program can drive baton.

Each persisted event is one line: `{"session_id", "seq", "ts", "kind", "step", ...payload}`. When stdin is
not a terminal, each line read from it is a command: `{"checkpoint_id": "...", "decision": "approve"}`
(or `"step"` instead of `"checkpoint_id"` to answer that step's open checkpoint, or `"call_id"` the
checkpoint waiting for that tool call; `{"kind": "pause"}`, `{"kind": "cancel"}`). The decisions are
`baton decide`'s, with the same details: at a tool call `{"decision": "edit", "edited": {...arguments}}`,
`{"decision": "reject", "feedback": "..."}`, `{"decision": "deny"}`, `{"decision": "always", "pattern":
{"path": "reports/*"}}` (or `"edited"`; the pattern is optional). Each command's fate is printed as
`{"kind": "CommandResult", ...}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from typing import Any, TextIO

from baton.core import events as ev
from baton.core.bus import Bus, RunnerLost
from baton.core.commands import Command
from baton.core.jsonout import dumps
from baton.core.step_path import StepPath
from baton.core.view import SESSION_ENDED, SessionView

RESULT_WAIT_S = 5.0
"""How long the end of a session waits for the verdict on a command already sent."""


def _line(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(dumps(obj) + "\n")
    out.flush()


async def run_json(
    bus: Bus, out: TextIO | None = None, read_commands: bool | None = None, by: str = "program", where: str = ""
) -> str:
    """Print events until the session ends or pauses; returns its status. Commands read from stdin are
    sent as `by`, from `where`, unless they say otherwise."""
    stream = out or sys.stdout
    view = SessionView(bus.session_id)
    reader = None
    idle = asyncio.Event()
    idle.set()
    if read_commands if read_commands is not None else not sys.stdin.isatty():
        reader = asyncio.ensure_future(_read_commands(bus, view, stream, by, where, idle))
    try:
        async for batch in bus.updates():
            for update in batch:
                if isinstance(update, ev.Envelope):
                    view.apply(update)
                    _line(stream, update.to_json())
                elif isinstance(update, RunnerLost):
                    _line(stream, {"session_id": bus.session_id, "kind": "RunnerLost", "reason": update.reason})
                    return "lost"
            if view.status in SESSION_ENDED:
                return view.status
    finally:
        if reader is not None:
            # a command sent just before the end (a cancel, say) still gets its result line
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), RESULT_WAIT_S)
            reader.cancel()
    return view.status


def _stdin_lines() -> asyncio.Queue[str]:
    """Lines of stdin, read by a daemon thread: a program may keep its end of the pipe open after the
    session ends, and a blocked read must never keep baton from exiting. An empty string is the end."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            raw = sys.stdin.readline()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, raw)
            except RuntimeError:
                return
            if not raw:
                return

    threading.Thread(target=pump, name="baton-stdin", daemon=True).start()
    return queue


async def _read_commands(
    bus: Bus, view: SessionView, out: TextIO, by: str, where: str, idle: asyncio.Event
) -> None:
    lines = _stdin_lines()
    while True:
        raw = await lines.get()
        if not raw:
            return
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            command = _command(data, view, by, where)
        except (ValueError, TypeError) as exc:
            _line(
                out,
                {
                    "session_id": bus.session_id,
                    "kind": "CommandResult",
                    "status": "rejected",
                    "reason": f"unreadable command: {exc}",
                },
            )
            continue
        idle.clear()
        try:
            from baton.tui.decisions import send_and_wait  # only when a program sends a command

            verdict = await send_and_wait(bus, command)
        finally:
            idle.set()
        _line(
            out,
            {
                "session_id": bus.session_id,
                "kind": "CommandResult",
                "status": verdict.status,
                "reason": verdict.reason,
                "command": command.to_json(),
            },
        )


def _command(data: Any, view: SessionView, by: str, where: str = "") -> Command:
    if not isinstance(data, dict):
        raise ValueError("a command is a JSON object")
    kind = str(data.get("kind", "decide"))
    if kind != "decide":
        return Command.from_json({**data, "kind": kind, "by": data.get("by", by)})
    checkpoint = str(data.get("checkpoint_id", ""))
    if "pattern" in data and data.get("edited") is None:
        data = {**data, "edited": data["pattern"]}
    if not checkpoint and data.get("call_id"):
        call_id = str(data["call_id"])
        found = [c for c in view.open_checkpoints if c.reason == "tool_call" and c.context.get("call_id") == call_id]
        if not found:
            raise ValueError(f"no open checkpoint for tool call {call_id!r}")
        checkpoint = found[0].checkpoint_id
    if not checkpoint and data.get("step"):
        step = str(data["step"])
        for cp in view.open_checkpoints:
            if cp.step == step or StepPath(cp.step).name == step:
                checkpoint = cp.checkpoint_id
                break
        else:
            raise ValueError(f"no open checkpoint at step {step!r}")
    said = {"by": data.get("by", by), "where": data.get("where", where)}
    return Command.from_json({**data, "kind": "decide", "checkpoint_id": checkpoint, **said})
