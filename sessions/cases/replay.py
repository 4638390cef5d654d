"""Replaying a case against the current workflow file, in this process, at $0.

The runner is the real one; only its seams are swapped. Its model client answers by request hash from
the case (no provider is called); its tool invoker returns the case's results (a tool is never run,
so a side effect cannot happen twice); its decisions file is the case's decisions, keyed by checkpoint.
Events go to a list, folded like any session. A request the case has no answer for means the workflow
changed before that step: the replay stops there and reports the request's diff against the recorded
one — or, `live`, makes the call and adds the answer to the case file.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core import events as ev
from baton.core.config import Config, known_aliases, resolve_models
from baton.core.llm.types import LLMClient, LLMRequest, LLMResult, ModelError, ModelToolCall, OnText
from baton.core.runner import Runner, RunOptions, check_inputs
from baton.core.runner.journal import Journal
from baton.core.runner.replay import ToolReplay
from baton.core.runner.tools import ToolCall, ToolDone, ToolError, ToolInvoker
from baton.core.spec.load import Workflow, load_workflow
from baton.core.spec.model import ModelSpec
from baton.core.spec.problems import WorkflowInvalid
from baton.core.view import SessionView
from baton.sessions.cases.casefile import Answer, Case, CaseInvalid, append_answer
from baton.sessions.cases.judge import judged
from baton.sessions.cases.trajectory import differences, relative_key, trajectory

STOP_WAIT_S = 5.0
"""How long a diverged call waits for the run's cancellation to reach it."""


@dataclass
class Outcome:
    """How one case replayed: `verdict` is pass, fail or diverged; `step` where it diverged."""

    name: str
    path: str
    verdict: str
    step: str = ""
    why: str = ""
    diff: str = ""
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was not checked, and why."""
    served: int = 0
    """Model answers served from the case."""
    model_calls: int = 0
    """Calls made to a model (only with `live`)."""
    recorded: int = 0
    """Answers added to the case file (`live`)."""
    steps: int = 0
    seconds: float = 0.0
    workflow_changed: bool = False

    @property
    def passed(self) -> bool:
        """Did the case pass?"""
        return self.verdict == "pass"

    def record(self) -> dict[str, Any]:
        """As one JSON object (`baton test --json`)."""
        return {
            "case": self.name,
            "path": self.path,
            "verdict": self.verdict,
            "step": self.step,
            "why": self.why,
            "diff": self.diff,
            "findings": self.findings,
            "notes": self.notes,
            "served": self.served,
            "model_calls": self.model_calls,
            "recorded": self.recorded,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "workflow_changed": self.workflow_changed,
        }


@dataclass
class Divergence:
    """Where and why the replay left the recording."""

    step: str
    why: str
    diff: str = ""


class ListSink:
    """The runner's sink for a replay: events kept in order as envelopes, nothing persisted."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.envelopes: list[ev.Envelope] = []
        self.started: dict[str, ev.LLMCallStarted] = {}
        """The latest call started for each request hash (its step and turn)."""
        self._pending: list[ev.Event] = []

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        """Keep what was posted, then `events`."""
        batch, self._pending = [*self._pending, *events], []
        self._keep(batch)

    def post(self, events: Sequence[ev.Event]) -> None:
        """Kept at once (a diverged call looks up its step here before the next commit)."""
        self._keep(events)

    def delta(self, step: str, call_id: str, text: str) -> None:
        """Streamed text is not kept."""

    async def reject_command(self, command_id: int, reason: str) -> None:
        """No commands reach a replay."""

    def _keep(self, events: Sequence[ev.Event]) -> None:
        now = time.time()
        for event in events:
            if isinstance(event, ev.LLMCallStarted):
                self.started[event.request_hash] = event
            self.envelopes.append(ev.Envelope(self.session_id, len(self.envelopes) + 1, now, event))


class CaseModel:
    """The model client of a replay: recorded answers by request hash, no provider; `live` calls `inner`
    for a request the case has no answer for, and records its answer."""

    def __init__(self, case: Case, sink: ListSink, inner: LLMClient | None = None) -> None:
        self.case = case
        self.sink = sink
        self.inner = inner
        self.served = 0
        self.calls = 0
        self.recorded: list[Answer] = []
        self.used: set[str] = set()
        self.divergence: Divergence | None = None
        self.stop: Callable[[str], None] = lambda reason: None

    async def stream(
        self, request: LLMRequest, on_text: OnText, *, first_token_s: float, idle_s: float, total_s: float | None = None
    ) -> LLMResult:
        """The recorded answer; else a live call (`inner`), else the replay stops as diverged."""
        key = request.hash()
        answer = self.case.answers.get(key)
        if answer is not None:
            self.served += 1
            self.used.add(key)
            if answer.text:
                on_text(answer.text)
            calls = tuple(ModelToolCall.from_record(c) for c in answer.tool_calls)
            return LLMResult(answer.text, answer.tokens_in, answer.tokens_out, 0.0, 0.0, None, answer.model, calls)
        started = self.sink.started.get(key)
        step = started.step if started is not None else ""
        if self.inner is not None:
            return await self._live(request, key, step, started, on_text, first_token_s, idle_s, total_s)
        if self.divergence is None:
            why = "a model request the case has no answer for"
            self.divergence = Divergence(step, why, self._diff(request, started))
        self.stop("diverged")
        await _until_cancelled()
        raise ModelError("bad_request", "no recorded answer for this request (the replay diverged)")

    async def _live(
        self,
        request: LLMRequest,
        key: str,
        step: str,
        started: ev.LLMCallStarted | None,
        on_text: OnText,
        first_token_s: float,
        idle_s: float,
        total_s: float | None,
    ) -> LLMResult:
        assert self.inner is not None
        self.calls += 1
        result = await self.inner.stream(request, on_text, first_token_s=first_token_s, idle_s=idle_s, total_s=total_s)
        answer = Answer(
            key,
            step,
            started.turn if started is not None else 0,
            result.model,
            request.record(),
            result.text,
            [c.record() for c in result.tool_calls],
            result.tokens_in,
            result.tokens_out,
            result.cost_usd,
        )
        self.case.answers[key] = answer
        self.recorded.append(answer)
        return result

    def _diff(self, request: LLMRequest, started: ev.LLMCallStarted | None) -> str:
        """The new request against the recorded one it replaces: the step's first unused answer (of the
        same turn of a tool loop when there is one)."""
        step = started.step if started is not None else ""
        turn = started.turn if started is not None else 0
        mine = [a for a in self.case.answers.values() if a.step == step and a.hash not in self.used]
        same = [a for a in mine if a.turn == turn] or mine
        before = request_lines(same[0].request) if same else []
        after = request_lines(request.record())
        label = f"recorded ({same[0].hash})" if same else "recorded (none for this step)"
        return "\n".join(difflib.unified_diff(before, after, label, f"now ({request.hash()})", lineterm="", n=2))

    # --- the rest of the seam: a replay costs nothing -------------------------------------------

    def forecast(self, request: LLMRequest) -> tuple[int, tuple[float, float] | None]:
        """Nothing to forecast: a recorded answer costs $0."""
        return 0, (0.0, 0.0)

    def price_known(self, model: str) -> bool:
        """Every answer is priced ($0)."""
        return True

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float | None:
        """$0."""
        return 0.0

    def context_window(self, model: str) -> int | None:
        """Unknown (no limit is applied to a replay)."""
        return None

    async def warm_up(self) -> None:
        """Nothing to load."""
        if self.inner is not None:
            await self.inner.warm_up()


async def _until_cancelled() -> None:
    """Wait for the run's cancellation to arrive (bounded, in case the call is outside the walk)."""
    try:
        await asyncio.wait_for(asyncio.get_running_loop().create_future(), STOP_WAIT_S)
    except TimeoutError:
        pass


class CaseTools:
    """The tool invoker of a replay: each call's recorded result, found by its call (step, round, turn
    and the model's call id; or step and argument hash), never the tool itself. `live` runs a tool that
    has no side effects when the case has no result for it."""

    def __init__(
        self, case: Case, session_id: str, journal: Journal, model: CaseModel, inner: ToolInvoker | None = None
    ) -> None:
        self.case = case
        self.session_id = session_id
        self.journal = journal
        self.model = model
        self.inner = inner
        self.divergence: Divergence | None = None

    async def invoke(self, call: ToolCall) -> ToolDone:
        """The recorded result (or the recorded failure, raised as `ToolError`)."""
        recorded = self.case.tools.get(relative_key(call.key, self.session_id))
        if recorded is None:
            if self.inner is not None and not call.side_effects:
                return await self.inner.invoke(call)
            if self.divergence is None:
                args = json.dumps(call.args, ensure_ascii=False, sort_keys=True)
                why = f"a call of tool {call.tool} the case has no result for: {args[:200]}"
                self.divergence = Divergence(call.path, why)
            self.model.stop("diverged")
            await _until_cancelled()
            raise ToolError("has no recorded result (the replay diverged)", "no recorded result")
        finished = ev.ToolCallFinished(
            step=call.path,
            tool=call.tool,
            idempotency_key=call.key,
            ok=recorded.ok,
            result=recorded.result if recorded.ok else None,
            error=recorded.error,
            call_id=call.call_id,
            outcome=("done" if recorded.ok else "failed") if call.call_id else "",
        )
        if not recorded.ok:
            self.journal.note([finished])
            raise ToolError(f"failed: {recorded.error}", recorded.error)
        return ToolDone(recorded.result, finished)


def request_lines(record: Mapping[str, Any]) -> list[str]:
    """A recorded request as lines a diff reads well: the model, each message's text under its role,
    then every other setting as JSON."""
    lines = [f"model: {record.get('model', '')}"]
    for message in record.get("messages") or []:
        lines.append(f"--- {message.get('role', '?')}")
        content = message.get("content")
        lines += (content if isinstance(content, str) else json.dumps(content, sort_keys=True)).splitlines()
        for key in ("tool_calls", "tool_call_id"):
            if message.get(key):
                lines.append(f"{key}: {json.dumps(message[key], sort_keys=True, ensure_ascii=False)}")
    for key in sorted(set(record) - {"model", "messages"}):
        lines.append(f"{key}: {json.dumps(record[key], sort_keys=True, ensure_ascii=False)}")
    return lines


def load_case_workflow(case: Case, config: Config | None, workflow: str | None = None) -> Workflow:
    """The workflow the case is tested against: the file as it is now (`workflow` overrides the case's)."""
    path = Path(workflow) if workflow else case.workflow_path()
    try:
        return load_workflow(path, known_aliases(config))
    except WorkflowInvalid as exc:
        raise CaseInvalid(f"{case.path or case.name}:1:1: workflow {path}: {exc}") from None


async def replay(
    case: Case,
    *,
    live: bool = False,
    llm: LLMClient | None = None,
    config: Config | None = None,
    workflow: Workflow | None = None,
) -> Outcome:
    """Replay one case; `live` (with `llm`, the model client for new requests) fills in what is missing."""
    t0 = time.perf_counter()
    wf = workflow or load_case_workflow(case, config)
    changed = bool(case.workflow_hash) and wf.hash != case.workflow_hash
    outcome = Outcome(case.name, case.path, "pass", workflow_changed=changed)
    problems = check_inputs(wf.spec, case.inputs)
    if problems:
        outcome.verdict, outcome.why = "diverged", "; ".join(problems)
        return outcome
    session_id = f"replay-{case.session or 'case'}"
    sink = ListSink(session_id)
    model = CaseModel(case, sink, llm if live else None)
    decisions = {cp: d.entry() for cp, d in case.decisions.items()}
    options = RunOptions(
        decisions=decisions, decisions_file=Path(case.path).name or case.name, by="baton test", lessons=case.lessons
    )
    models = resolve_models(wf.spec, config, case.models)
    runner = Runner(
        session_id,
        wf,
        sink=sink,
        llm=model,
        models=models,
        inputs=case.inputs,
        options=options,
    )
    inner = runner.rt.tool_runner if live else None
    tools = CaseTools(case, session_id, runner.rt.journal, model, inner)
    runner.rt.tools = ToolReplay(tools, {}, {})
    model.stop = runner.cancel
    await runner.run()
    view = SessionView(session_id).apply_all(sink.envelopes)
    outcome.served, outcome.model_calls, outcome.steps = model.served, model.calls, len(view.steps)
    if live and case.path:
        for answer in model.recorded:
            append_answer(Path(case.path), answer)
    outcome.recorded = len(model.recorded)
    divergence = model.divergence or tools.divergence or _undecided(view, case)
    if divergence is not None:
        outcome.verdict, outcome.step = "diverged", divergence.step
        outcome.why, outcome.diff = divergence.why, divergence.diff
    else:
        outcome.findings = differences(case.expect, trajectory(view, sink.envelopes))
        await _judge(case, view, outcome, llm if live else None, models, wf.spec.defaults.model or "")
        outcome.verdict = "fail" if outcome.findings else "pass"
    outcome.seconds = time.perf_counter() - t0
    return outcome


async def _judge(
    case: Case, view: SessionView, outcome: Outcome, llm: LLMClient | None, models: dict[str, ModelSpec], default: str
) -> None:
    """Apply the case's `judge` rules: a model call each, so only in a live replay."""
    judges = {key: rule["judge"] for key, rule in case.expect.rules.items() if "judge" in rule}
    if not judges:
        return
    if llm is None:
        outcome.notes.append(f"judge rules not checked without --live: {', '.join(judges)}")
        return
    for key, rule in judges.items():
        outcome.model_calls += 1
        finding = await judged(key, view.state.get(key), rule, llm, models, default)
        if finding:
            outcome.findings.append(finding)


def _undecided(view: SessionView, case: Case) -> Divergence | None:
    """A checkpoint the recording has no decision for (the replay paused there)."""
    for checkpoint in view.open_checkpoints:
        if checkpoint.checkpoint_id not in case.decisions:
            return Divergence(checkpoint.step, f"a checkpoint the case has no decision for: {checkpoint.checkpoint_id}")
    return None
