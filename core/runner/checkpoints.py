"""The checkpoint inbox: opening a checkpoint, waiting for its decision, and recording decisions.

A checkpoint is a future handed across the process boundary: the runner persists `CheckpointOpened`
and waits; a decision arrives as a command, is validated, persisted as `DecisionMade`, and only then
resolves the future. Other branches keep running while one waits. A resumed runner finds recorded
decisions and acts on them instead of asking again. Who answers, in order: a decision already recorded;
a person's decision that was queued before the checkpoint was asked (a person beats every automatic
policy); the decisions file or `--auto`; else a person, live. A tool call that an accepted approval rule
matches is answered by the rule in the very commit that opens its checkpoint, so nobody is asked.

What a checkpoint shows and what its decisions do belong to its gate (`gates/`); this module knows
only the `Ask` a gate hands it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev
from baton.core.commands import Command
from baton.core.policy.rules import Rule, applying
from baton.core.runner import navigation
from baton.core.runner.context import Paused, RunOptions, SessionStop, StepFailure, slot
from baton.core.runner.journal import Journal
from baton.core.runner.run_state import RunState
from baton.core.runner.writes import check_writes
from baton.core.secrets import Redactor
from baton.core.spec.model import ModelSpec, WorkflowSpec
from baton.core.step_path import StepPath

Edit = Callable[[Any], tuple[Any, str]]
"""Validates an edited value → (normalised value, unified diff); raises `ValueError` with the reason."""


@dataclass(frozen=True)
class Unattended:
    """What an unattended run (`--auto`) does at a checkpoint instead of approving or rejecting:
    `pause` (a person must decide) or `stop` (the session fails). `before_opening` stops without
    opening the checkpoint at all (there is nothing a decisions file could say either)."""

    action: str
    message: str
    error_type: str = "failed"
    before_opening: bool = False
    decision: str = ""
    """Answer with this decision instead (`action` is then unused): a question nobody is there to
    answer is declined."""

    def raise_for(self, path: str) -> None:
        """Stop the run as this rule says."""
        if self.action == "pause":
            raise Paused(self.message)
        raise SessionStop(self.message, path, self.error_type)


@dataclass
class Ask:
    """A checkpoint to open: what is shown, which decisions are allowed, and how edits are checked."""

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
    edit: Edit | None = None
    skip_needs: list[str] = field(default_factory=list)
    pre_events: list[ev.Event] = field(default_factory=list)
    unattended: Unattended | None = None
    key: str = ""
    """Tells apart checkpoints of one reason in one round (the tool calls of an agent's turn)."""
    lookup: list[str] = field(default_factory=list)
    """More keys a decisions file may answer it by, after its id (`path:tool_call:search`)."""
    sequence: int | None = None
    """Which entry of a decisions-file list answers it (default: its round)."""

    @property
    def checkpoint_id(self) -> str:
        """Deterministic, so a resumed runner re-opens the very same checkpoint."""
        base = f"{self.path}:{self.reason}:{self.round}"
        return f"{base}:{self.key}" if self.key else base

    def opened(self) -> ev.CheckpointOpened:
        """The event that opens it."""
        return ev.CheckpointOpened(
            step=self.path,
            checkpoint_id=self.checkpoint_id,
            reason=self.reason,
            message=self.message,
            output=self.output,
            reasoning=self.reasoning,
            context={**self.context, "skip_needs": self.skip_needs} if self.skip_needs else self.context,
            options=self.options,
            targets=self.targets,
            forecasts=self.forecasts,
            round=self.round,
        )


class Checkpoints:
    """Open checkpoints, recorded decisions, and the futures steps wait on."""

    def __init__(
        self,
        journal: Journal,
        state: RunState,
        spec: WorkflowSpec,
        models: Mapping[str, ModelSpec],
        options: RunOptions,
        opened: Mapping[str, ev.CheckpointOpened],
        decided: Mapping[str, ev.DecisionMade],
        redact: Redactor,
        rules: Sequence[Rule] = (),
    ) -> None:
        self.journal = journal
        self.rules = list(rules)
        """Accepted approval rules in force for this session (see `_by_rule`)."""
        self.state = state
        self.spec = spec
        self.models = models
        self.options = options
        self.redact = redact
        self.opened: dict[str, ev.CheckpointOpened] = dict(opened)
        self.decided: dict[str, ev.DecisionMade] = dict(decided)
        self.asks: dict[str, Ask] = {}
        self.waiters: dict[str, asyncio.Future[ev.DecisionMade]] = {}
        self.deferred: list[Command] = []
        self.deciding: set[str] = set()
        """Checkpoints whose decision is being persisted: a second answer meanwhile is refused."""

    # --- asking ----------------------------------------------------------------------------------

    async def ask(self, ask: Ask) -> ev.DecisionMade:
        """Open (or re-open after a resume) a checkpoint and return its decision."""
        cp_id = ask.checkpoint_id
        if cp_id in self.decided:
            return self.decided[cp_id]
        self.check_pause()
        rule = ask.unattended
        if (
            rule is not None
            and rule.before_opening
            and self.options.auto is not None
            and self.options.decisions is None
        ):
            rule.raise_for(ask.path)
        if cp_id not in self.opened:
            opened = ask.opened()
            ruled = self._by_rule(ask)  # answered in the same commit: no viewer is ever asked
            await self.journal.checkpoint([*ask.pre_events, opened, *([ruled] if ruled is not None else [])])
            self.opened[cp_id] = opened
            if ruled is not None:
                self.decided[cp_id] = ruled
                return ruled
        self.asks[cp_id] = ask
        future: asyncio.Future[ev.DecisionMade] = asyncio.get_running_loop().create_future()
        self.waiters[cp_id] = future
        try:
            await self._queued(cp_id)
            if future.done():
                return future.result()
            try:
                automatic = self._automatic(ask)
            except Paused:
                self.state.awaiting.add(ask.path)
                raise
            if automatic is not None:
                await self.journal.decision(automatic)
                self.decided[cp_id] = automatic
                return automatic
            return await self._wait(ask.path, future)
        finally:
            self.waiters.pop(cp_id, None)
            self.asks.pop(cp_id, None)

    async def _queued(self, cp_id: str) -> None:
        """Apply decisions a person sent before this checkpoint was asked (queued while no runner held
        the session, or while the step was on its way here)."""
        for command in [c for c in self.deferred if c.checkpoint_id == cp_id]:
            self.deferred.remove(command)
            await self.submit(command)

    async def _wait(self, path: str, future: asyncio.Future[ev.DecisionMade]) -> ev.DecisionMade:
        """Wait for a person; a fan-out child gives its concurrency slot back meanwhile."""
        held = slot.get()
        if held is not None:
            held.release()
        self.state.awaiting.add(path)
        paused = False
        try:
            return await future
        except Paused:
            paused = True
            raise
        finally:
            if not paused:
                self.state.awaiting.discard(path)
            if held is not None:
                await held.acquire()

    # --- pausing ---------------------------------------------------------------------------------

    def pause(self, reason: str) -> None:
        """Stop starting steps; waiting checkpoints stop waiting; running calls finish first."""
        if self.state.pausing is None:
            self.state.pausing = reason
        for future in self.waiters.values():
            if not future.done():
                future.set_exception(Paused(reason))

    def check_pause(self) -> None:
        """Raise `Paused` at a safe point if a pause was asked for."""
        if self.state.pausing is not None:
            raise Paused(self.state.pausing)

    # --- decisions arriving ----------------------------------------------------------------------

    async def submit(self, command: Command) -> None:
        """Validate a decision command, persist it, then act (resolve the waiting step)."""
        cp_id = command.checkpoint_id
        opened = self.opened.get(cp_id)
        if opened is None:
            await self.journal.refuse(command.id, f"no checkpoint '{cp_id}' in this session")
            return
        if cp_id in self.decided or cp_id in self.deciding:
            await self.journal.refuse(command.id, f"checkpoint '{cp_id}' was already decided")
            return
        if command.decision not in opened.options:
            allowed = ", ".join(opened.options)
            await self.journal.refuse(command.id, f"'{command.decision}' is not offered here (offered: {allowed})")
            return
        ask = self.asks.get(cp_id)
        if ask is None and command.decision != "pause":
            self.deferred.append(command)
            return
        try:
            decision = self._validated(opened, ask, command)
        except ValueError as exc:
            await self.journal.refuse(command.id, str(exc))
            return
        except Exception as exc:
            await self.journal.refuse(command.id, self.redact(f"invalid decision: {type(exc).__name__}: {exc}"))
            return
        if decision.decision != "pause":
            self.deciding.add(cp_id)
        try:
            await self.journal.decision(decision, command.id)
        finally:
            self.deciding.discard(cp_id)
        if decision.decision == "pause":
            self.pause(f"paused by {command.by} at {opened.step}")
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
            known = sorted(self.models)
            if not c.model:
                raise ValueError(f"retry on another model needs a model alias (one of {', '.join(known)})")
            if c.model not in self.models:
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
        if c.decision == "reject" and not c.feedback.strip() and opened.reason != "elicitation":
            raise ValueError(
                "a rejection needs a message for the model"
                if opened.reason == "tool_call"
                else "a rejection needs feedback for the re-run"
            )
        if c.decision == "always":
            edited = grant_pattern(c.edited, opened.context.get("args"))
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
            where=c.where,
        )

    def _supplied(self, path: str, supplied: dict[str, Any]) -> dict[str, Any]:
        """Values supplied in place of a skipped step: only keys it writes, valid for the state schema."""
        schema = self.spec.state
        writable = navigation.writes_of(self.spec, path)
        for key in supplied:
            if key not in schema:
                raise ValueError(f"'{key}' is not a state key")
            if key not in writable:
                raise ValueError(
                    f"'{key}' is not written by '{path}' (it writes {', '.join(sorted(writable)) or 'nothing'})"
                )
        try:
            return check_writes(schema, supplied)
        except StepFailure as failure:
            raise ValueError(f"supplied value: {failure.message}") from None

    # --- unattended answers ----------------------------------------------------------------------

    def _automatic(self, ask: Ask) -> ev.DecisionMade | None:
        options = self.options
        if options.decisions is not None:
            entry = _lookup(options.decisions, ask, self.spec)
            if entry is None:
                raise Paused(
                    f"no decision for step '{ask.path}' ({ask.reason}) in {options.decisions_file or 'the decisions'}"
                )
            return self._from_entry(ask, entry, by=f"decisions:{options.decisions_file or 'file'}")
        if options.auto is None:
            return None
        if ask.unattended is not None and ask.unattended.decision:
            return self._made(ask, ask.unattended.decision, by="auto")
        if ask.unattended is not None:
            ask.unattended.raise_for(ask.path)
        if options.auto == "reject":
            if "reject" in ask.options:
                return self._made(ask, "reject", by="auto", feedback="Rejected automatically (--auto reject).")
            raise SessionStop(f"step '{ask.path}' rejected (--auto reject)", ask.path, "rejected")
        return self._made(ask, "approve", by="auto")

    def _by_rule(self, ask: Ask) -> ev.DecisionMade | None:
        """An accepted approval rule approves a tool call it matches (never a destructive tool's, nor
        one whose workflow asks before every call): the decision is the rule's, `by: rule:ID`."""
        if ask.reason != "tool_call" or not self.rules:
            return None
        rule = applying(self.rules, ask.context)
        if rule is None:
            return None
        return ev.DecisionMade(
            step=ask.path,
            checkpoint_id=ask.checkpoint_id,
            decision="approve",
            by=f"rule:{rule.id}",
            where=f"approval rule ({rule.arguments()})",
        )

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
            edited=entry.get("edited", entry.get("pattern")),
            supplied=dict(entry.get("supplied") or {}),
            where="decisions file",
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
            step=ask.path, checkpoint_id=ask.checkpoint_id, decision=decision, by=by, feedback=feedback, where="auto"
        )


def _lookup(decisions: dict[str, Any], ask: Ask, spec: WorkflowSpec) -> Any:
    """A decisions-file entry for this checkpoint, most specific first: checkpoint id, `path:reason`,
    step path, then step id (a map item's template id, then the id in its path). A list answers
    successive rounds."""
    chain = navigation.chain(spec, ask.path)
    keys = [ask.checkpoint_id, *ask.lookup, f"{ask.path}:{ask.reason}", ask.path]
    keys += [chain[-1][0].id] if chain else []
    keys.append(StepPath(ask.path).id)
    for key in dict.fromkeys(keys):
        if key in decisions:
            entry = decisions[key]
            if isinstance(entry, list):
                index = (ask.sequence if ask.sequence is not None else ask.round) - 1
                return entry[index] if index < len(entry) else None
            return entry
    return None


def grant_pattern(value: Any, args: Any) -> dict[str, str]:
    """The argument pattern of an always-for-this-session grant: `{argument: glob}` over the call's
    arguments (empty: every call of the tool). `ValueError` says what is wrong."""
    if value is None or value == "" or value == {}:
        return {}
    if isinstance(value, str):
        pairs = [part.strip() for part in value.split(",") if part.strip()]
        parsed: dict[str, Any] = {}
        for pair in pairs:
            name, sep, glob = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"a grant pattern is 'argument=glob', not '{pair}'")
            parsed[name.strip()] = glob.strip()
        value = parsed
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("a grant pattern maps argument names to glob patterns (text)")
    known = set(args) if isinstance(args, dict) else set()
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"the call has no argument {', '.join(map(repr, unknown))} to scope the grant by")
    return dict(value)
