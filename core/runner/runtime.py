"""Shared runtime of one runner: seams, model resolution, guards, and the checkpoint machinery.

A checkpoint is a future handed across the process boundary: the runner persists `CheckpointOpened`
and waits; a decision arrives as a command, is validated, persisted as `DecisionMade`, and only then
resolves the future. Other branches keep running while one waits. A resumed runner finds recorded
decisions and acts on them instead of asking again.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.llm.types import LLMClient, LLMRequest
from baton.core.runner import needs
from baton.core.runner.context import Clock, Paused, RunOptions, Scope, SessionStop, Sink, StepFailure, slot
from baton.core.runner.guards import Breakers, Ledger
from baton.core.runner.history import History
from baton.core.secrets import Redactor, default_redactor
from baton.core.spec.load import Workflow
from baton.core.spec.model import ModelSpec, WorkflowSpec


class RerouteTargets(Protocol):
    """Top-level steps a person may jump to from a step (see `Runner.reroute_targets`)."""

    def __call__(self, path: str, ran: bool = True) -> list[str]: ...


def _no_targets(path: str, ran: bool = True) -> list[str]:
    return []


class ConfigError(Exception):
    """The workflow cannot start as configured (an unknown model, a tool that does not import, ...)."""


@dataclass
class Ask:
    """A checkpoint to open. `edit` validates an edited value → (normalised value, unified diff)."""

    path: str
    reason: str
    message: str = ""
    output: Any = None
    reasoning: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    forecasts: dict[str, Any] = field(default_factory=dict)
    round: int = 1
    edit: Callable[[Any], tuple[Any, str]] | None = None
    skip_needs: list[str] = field(default_factory=list)
    pre_events: list[ev.Event] = field(default_factory=list)

    @property
    def checkpoint_id(self) -> str:
        """Deterministic, so a resumed runner re-opens the very same checkpoint."""
        return f"{self.path}:{self.reason}:{self.round}"


class Runtime:
    """Everything the step executors share for one run of one session."""

    def __init__(
        self,
        session_id: str,
        workflow: Workflow,
        models: dict[str, ModelSpec],
        llm: LLMClient,
        sink: Sink,
        clock: Clock,
        options: RunOptions,
        history: History,
        redactor: Redactor | None = None,
    ) -> None:
        self.session_id = session_id
        self.workflow = workflow
        self.spec = workflow.spec
        self.models = models
        self.llm = llm
        self.sink = sink
        self.clock = clock
        self.options = options
        self.history = history
        self.redact = redactor or default_redactor()
        self.breakers = Breakers(options.breaker_threshold, options.breaker_cooldown_s)
        self.ledger = Ledger()
        self.caps: dict[str, float] = {}
        self.session_cap = (
            options.max_usd if options.max_usd is not None else (self.spec.budget.max_usd if self.spec.budget else None)
        )
        self.limit = asyncio.Semaphore(self.spec.defaults.concurrency)
        self.running: set[str] = set()
        self.awaiting: set[str] = set()
        self.degraded = False
        self.tokens_in = 0
        self.tokens_out = 0
        self.finished: set[str] = set(history.completed) | set(history.skipped)
        self.pausing: str | None = None
        self.step_mode = options.step_mode
        self.breakpoints = set(options.breakpoints)
        self.root: Scope = Scope({}, dict(self.spec.state), root=True)
        self.tools: dict[str, Callable[..., Any]] = {}
        self.tool_shapes: dict[str, tuple[bool, bool]] = {}
        self.checkpoints = Checkpoints(self)
        self.reroute_targets: RerouteTargets = _no_targets
        self.skip_needs: Callable[[str], list[str]] = lambda path: needs.skip_needs(self.spec, self.root.state, path)
        self.jump_events: Callable[[str, str, Any, str], list[ev.Event]] = lambda path, target, output, by: []

    # --- models ----------------------------------------------------------------------------------

    def model_spec(self, alias: str) -> ModelSpec:
        """What an alias points at; a literal `provider/model` works without an alias."""
        spec = self.models.get(alias)
        if spec is not None:
            return spec
        if "/" in alias:
            return ModelSpec(model=alias)
        raise ConfigError(f"unknown model alias '{alias}'")

    def request(
        self,
        alias: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> LLMRequest:
        """A request for `alias`, with the alias's own limits where the step sets none."""
        spec = self.model_spec(alias)
        return LLMRequest(
            model=spec.model,
            alias=alias,
            messages=messages,
            max_tokens=max_tokens or spec.max_tokens or self.spec.defaults.max_tokens,
            temperature=temperature if temperature is not None else spec.temperature,
            response_format=response_format,
            api_base=spec.api_base,
            api_key_env=spec.api_key_env,
            params=dict(spec.params),
            mock=spec.mock.model_dump() if spec.mock is not None else None,
        )

    def request_for(self, alias: str, base: LLMRequest) -> LLMRequest:
        """The same request sent to another alias (fallbacks, retry on another model)."""
        spec = self.model_spec(alias)
        return base.with_model(
            spec.model,
            alias,
            api_base=spec.api_base,
            api_key_env=spec.api_key_env,
            params=dict(spec.params),
            mock=spec.mock.model_dump() if spec.mock is not None else None,
            temperature=base.temperature if base.temperature is not None else spec.temperature,
        )

    def record(self, request: LLMRequest) -> dict[str, Any]:
        """A request as recorded in the session (never credentials)."""
        return request.record()

    def has_fallback_after(self, alias: str, plan: Any) -> bool:
        """Is there another model after `alias` in the plan's chain?"""
        chain = [plan.request.alias, *plan.fallback]
        return alias in chain and chain.index(alias) < len(chain) - 1

    def larger_context_index(self, plan: Any, request: LLMRequest) -> int | None:
        """The next alias in the chain whose context window is larger than `request`'s model."""
        chain = [plan.request.alias, *plan.fallback]
        current = self._window(request.alias)
        start = chain.index(request.alias) + 1 if request.alias in chain else len(chain)
        for i in range(start, len(chain)):
            window = self._window(chain[i])
            if window is not None and (current is None or window > current):
                return i
        return None

    def _window(self, alias: str) -> int | None:
        spec = self.model_spec(alias)
        return spec.context_window or self.llm.context_window(spec.model)

    def forecasts(self, request: LLMRequest | None) -> dict[str, Any]:
        """Cost range of `request` on every known alias (for 'retry on another model')."""
        if request is None:
            return {}
        out: dict[str, Any] = {}
        for alias in sorted(self.models):
            try:
                _, rng = self.llm.forecast(self.request_for(alias, request))
            except Exception:
                rng = None
            out[alias] = [round(rng[0], 8), round(rng[1], 8)] if rng else None
        return out

    # --- pause -----------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        """Stop starting steps; waiting checkpoints stop waiting; running calls finish first."""
        if self.pausing is None:
            self.pausing = reason
        self.checkpoints.interrupt(reason)

    def check_pause(self) -> None:
        """Raise `Paused` at a safe point if a pause was asked for."""
        if self.pausing is not None:
            raise Paused(self.pausing)


class Checkpoints:
    """Open checkpoints, recorded decisions, and the futures steps wait on."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.opened: dict[str, ev.CheckpointOpened] = dict(rt.history.opened)
        self.decided: dict[str, ev.DecisionMade] = dict(rt.history.decisions)
        self.asks: dict[str, Ask] = {}
        self.waiters: dict[str, asyncio.Future[ev.DecisionMade]] = {}
        self.deferred: list[Command] = []
        self.deciding: set[str] = set()
        """Checkpoints whose decision is being persisted: a second answer meanwhile is refused."""

    async def ask(self, ask: Ask) -> ev.DecisionMade:
        """Open (or re-open after a resume) a checkpoint and wait for its decision."""
        cp_id = ask.checkpoint_id
        if cp_id in self.decided:
            return self.decided[cp_id]
        self.rt.check_pause()
        if cp_id not in self.opened:
            opened = ev.CheckpointOpened(
                step=ask.path,
                checkpoint_id=cp_id,
                reason=ask.reason,
                message=ask.message,
                output=ask.output,
                reasoning=ask.reasoning,
                context={**ask.context, "skip_needs": ask.skip_needs} if ask.skip_needs else ask.context,
                options=ask.options,
                targets=ask.targets,
                forecasts=ask.forecasts,
                round=ask.round,
            )
            await self.rt.sink.commit([*ask.pre_events, opened])
            self.opened[cp_id] = opened
        self.asks[cp_id] = ask
        try:
            automatic = self._automatic(ask)
        except Paused:
            self.rt.awaiting.add(ask.path)
            raise
        if automatic is not None:
            await self.rt.sink.commit([automatic])
            self.decided[cp_id] = automatic
            if ask.reason == "escalation" and automatic.decision == "skip":
                self.rt.degraded = True
            return automatic
        future: asyncio.Future[ev.DecisionMade] = asyncio.get_running_loop().create_future()
        self.waiters[cp_id] = future
        for command in [c for c in self.deferred if c.checkpoint_id == cp_id]:
            self.deferred.remove(command)
            await self.submit(command)
        held = slot.get()
        if held is not None:
            held.release()
        self.rt.awaiting.add(ask.path)
        paused = False
        try:
            decision = await future
        except Paused:
            paused = True
            raise
        finally:
            if not paused:
                self.rt.awaiting.discard(ask.path)
            self.waiters.pop(cp_id, None)
            self.asks.pop(cp_id, None)
            if held is not None:
                await held.acquire()
        if ask.reason == "escalation" and decision.decision == "skip":
            self.rt.degraded = True
        return decision

    def interrupt(self, reason: str) -> None:
        """Wake every waiting step with `Paused`."""
        for future in self.waiters.values():
            if not future.done():
                future.set_exception(Paused(reason))

    async def submit(self, command: Command) -> None:
        """Validate a decision command, persist it, then act (resolve the waiting step)."""
        rt = self.rt
        cp_id = command.checkpoint_id
        opened = self.opened.get(cp_id)
        if opened is None:
            await rt.sink.reject_command(command.id, f"no checkpoint '{cp_id}' in this session")
            return
        if cp_id in self.decided or cp_id in self.deciding:
            await rt.sink.reject_command(command.id, f"checkpoint '{cp_id}' was already decided")
            return
        if command.decision not in opened.options:
            allowed = ", ".join(opened.options)
            await rt.sink.reject_command(command.id, f"'{command.decision}' is not offered here (offered: {allowed})")
            return
        ask = self.asks.get(cp_id)
        if ask is None and command.decision != "pause":
            self.deferred.append(command)
            return
        try:
            decision = self._validated(opened, ask, command)
        except ValueError as exc:
            await rt.sink.reject_command(command.id, str(exc))
            return
        except Exception as exc:
            await rt.sink.reject_command(command.id, rt.redact(f"invalid decision: {type(exc).__name__}: {exc}"))
            return
        if decision.decision != "pause":
            self.deciding.add(cp_id)
        try:
            await rt.sink.commit([decision], command_id=command.id)
        finally:
            self.deciding.discard(cp_id)
        if decision.decision == "pause":
            rt.pause(f"paused by {command.by} at {opened.step}")
            return
        self.decided[cp_id] = decision
        future = self.waiters.get(cp_id)
        if future is not None and not future.done():
            future.set_result(decision)

    def _validated(self, opened: ev.CheckpointOpened, ask: Ask | None, c: Command) -> ev.DecisionMade:
        edited: Any = None
        diff = ""
        supplied = dict(c.supplied)
        if c.decision == "reroute" and c.target not in opened.targets:
            raise ValueError(f"cannot reroute to '{c.target}'; allowed: {', '.join(opened.targets) or 'none'}")
        if c.decision == "retry_model":
            known = sorted(self.rt.models)
            if not c.model:
                raise ValueError(f"retry on another model needs a model alias (one of {', '.join(known)})")
            if c.model not in self.rt.models:
                raise ValueError(f"unknown model alias '{c.model}' (one of {', '.join(known)})")
        if c.decision == "edit":
            if ask is None or ask.edit is None:
                raise ValueError("nothing to edit at this checkpoint")
            edited, diff = ask.edit(c.edited)
        if c.decision == "skip":
            missing = [k for k in (ask.skip_needs if ask is not None else []) if k not in supplied]
            if missing:
                raise ValueError(f"later steps need {', '.join(map(repr, missing))}: supply values to skip this step")
            supplied = self._supplied(opened.step, supplied)
        if c.decision in ("reject",) and not c.feedback.strip():
            raise ValueError("a rejection needs feedback for the re-run")
        return ev.DecisionMade(
            step=opened.step,
            checkpoint_id=opened.checkpoint_id,
            decision=c.decision,
            by=c.by,
            feedback=c.feedback,
            target=c.target,
            model=c.model,
            edited=edited,
            diff=diff,
            supplied=supplied,
            command_id=c.id,
        )

    def _supplied(self, path: str, supplied: dict[str, Any]) -> dict[str, Any]:
        """Values supplied in place of a skipped step: only keys it writes, valid for the state schema."""
        from baton.core.runner.outputs import check_writes

        schema = self.rt.spec.state
        writable = needs.writes_of(self.rt.spec, path)
        for key in supplied:
            if key not in schema:
                raise ValueError(f"'{key}' is not a state key")
            if key not in writable:
                raise ValueError(
                    f"'{key}' is not written by '{path}' (it writes {', '.join(sorted(writable)) or 'nothing'})"
                )
        try:
            return check_writes(self.rt, supplied)
        except StepFailure as failure:
            raise ValueError(f"supplied value: {failure.message}") from None

    # --- unattended answers ----------------------------------------------------------------------

    def _automatic(self, ask: Ask) -> ev.DecisionMade | None:
        options = self.rt.options
        if options.decisions is not None:
            entry = _lookup(options.decisions, ask, self.rt.spec)
            if entry is None:
                raise Paused(
                    f"no decision for step '{ask.path}' ({ask.reason}) in {options.decisions_file or 'the decisions'}"
                )
            return self._from_entry(ask, entry, by=f"decisions:{options.decisions_file or 'file'}")
        if options.auto is None:
            return None
        if ask.reason == "ambiguous":
            raise Paused(f"side-effecting tool at '{ask.path}' may or may not have run: a person must decide")
        if ask.reason == "budget":
            raise Paused(f"the next call of '{ask.path}' could exceed a budget ({ask.message})")
        if ask.reason == "escalation":
            raise SessionStop(ask.message or f"step '{ask.path}' failed", ask.path, "escalation")
        choice = options.auto
        if choice == "reject":
            if "reject" in ask.options:
                return self._made(ask, "reject", by="auto", feedback="Rejected automatically (--auto reject).")
            raise SessionStop(f"step '{ask.path}' rejected (--auto reject)", ask.path, "rejected")
        return self._made(ask, "approve", by="auto")

    def _from_entry(self, ask: Ask, entry: Any, by: str) -> ev.DecisionMade:
        if isinstance(entry, str):
            entry = {"decision": entry}
        if not isinstance(entry, dict) or "decision" not in entry:
            raise SessionStop(f"decision for '{ask.path}' must be a name or an object with 'decision'", ask.path)
        command = Command(
            kind="decide",
            checkpoint_id=ask.checkpoint_id,
            decision=str(entry["decision"]),
            by=by,
            feedback=str(entry.get("feedback", "")),
            target=str(entry.get("target", "")),
            model=str(entry.get("model", "")),
            edited=entry.get("edited"),
            supplied=dict(entry.get("supplied") or {}),
        )
        opened = self.opened[ask.checkpoint_id]
        if command.decision not in opened.options:
            raise SessionStop(
                f"decision '{command.decision}' for '{ask.path}' is not offered ({', '.join(opened.options)})", ask.path
            )
        if command.decision == "pause":
            raise Paused(f"paused by the decisions file at '{ask.path}'")
        try:
            return self._validated(opened, ask, command)
        except ValueError as exc:
            raise SessionStop(f"decision for '{ask.path}' is invalid: {exc}", ask.path) from None

    def _made(self, ask: Ask, decision: str, by: str, feedback: str = "") -> ev.DecisionMade:
        return ev.DecisionMade(
            step=ask.path, checkpoint_id=ask.checkpoint_id, decision=decision, by=by, feedback=feedback
        )


def _lookup(decisions: dict[str, Any], ask: Ask, spec: WorkflowSpec) -> Any:
    """A decisions-file entry for this checkpoint, most specific first: checkpoint id, `path:reason`,
    step path, then step id (a map item's template id, then the id in its path). A list answers
    successive rounds."""
    chain = needs.chain(spec, ask.path)
    keys = [ask.checkpoint_id, f"{ask.path}:{ask.reason}", ask.path]
    keys += [chain[-1][0].id] if chain else []
    keys.append(needs.step_id(ask.path.rsplit("/", 1)[-1]))
    for key in dict.fromkeys(keys):
        if key in decisions:
            entry = decisions[key]
            if isinstance(entry, list):
                return entry[ask.round - 1] if ask.round - 1 < len(entry) else None
            return entry
    return None


def text_diff(before: Any, after: Any, label: str = "output") -> str:
    """A unified diff of two values' text forms (recorded with every edit)."""
    a = before if isinstance(before, str) else json.dumps(before, indent=1, ensure_ascii=False, default=str)
    b = after if isinstance(after, str) else json.dumps(after, indent=1, ensure_ascii=False, default=str)
    lines = difflib.unified_diff(
        (a or "").splitlines(), (b or "").splitlines(), f"{label} (before)", f"{label} (after)", lineterm=""
    )
    return "".join(line + "\n" for line in lines)
