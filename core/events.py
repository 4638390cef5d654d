"""The one event vocabulary shared by the runner, the store, the viewers and the exporters.

Every event is a frozen dataclass whose fields are JSON values. The store gives each persisted event a
per-session sequence number and a timestamp by wrapping it in an `Envelope`; the event itself never
changes. `TokenDelta` is the one ephemeral kind: it travels on the live channel and is never persisted
(the finished text is persisted with `LLMCallFinished`).
"""

from __future__ import annotations

import dataclasses
import json
import json.encoder as json_encoder
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

JSON: TypeAlias = Any
"""A value made only of dict, list, str, int, float, bool and None."""


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event: `step` is the step path (empty for session-level events)."""

    kind: ClassVar[str] = "Event"
    step: str = ""

    def payload(self) -> dict[str, JSON]:
        """Field values except `step`, as a JSON-ready dict."""
        names, values = _payload_spec(type(self))
        return dict(zip(names, values(self), strict=True))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A persisted event: its session, its sequence number in that session and when it was committed."""

    session_id: str
    seq: int
    ts: float
    event: Event

    def to_json(self) -> dict[str, JSON]:
        """The documented JSON-lines shape: `{"session_id", "seq", "ts", "kind", "step", ...payload}`."""
        out: dict[str, JSON] = {
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": round(self.ts, 6),
            "kind": self.event.kind,
            "step": self.event.step,
        }
        out.update(self.event.payload())
        return out


# --- session lifecycle -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    """A new session of a workflow; `workflow_text` makes the session self-contained."""

    kind: ClassVar[str] = "SessionStarted"
    workflow: str = ""
    workflow_path: str = ""
    workflow_hash: str = ""
    workflow_text: str = ""
    inputs: dict[str, JSON] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    options: dict[str, JSON] = field(default_factory=dict)
    parent: str = ""
    fork_step: str = ""
    prices: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionResumed(Event):
    """A runner took the session over (after a pause, a crash or a finished run)."""

    kind: ClassVar[str] = "SessionResumed"
    pid: int = 0
    options: dict[str, JSON] = field(default_factory=dict)
    prices: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionPaused(Event):
    """The runner stopped cleanly; `baton resume` continues from here."""

    kind: ClassVar[str] = "SessionPaused"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SessionCompleted(Event):
    """Every step is done; `status` is `completed` or `degraded` (a fallback or failure was absorbed)."""

    kind: ClassVar[str] = "SessionCompleted"
    status: str = "completed"
    cost_usd: float | None = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    wall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionFailed(Event):
    """The session cannot continue without a person; `error` says why."""

    kind: ClassVar[str] = "SessionFailed"
    error: str = ""
    error_type: str = ""


@dataclass(frozen=True, slots=True)
class Forked(Event):
    """This session was forked from `parent` at `at_step`; steps before it were copied, not re-run."""

    kind: ClassVar[str] = "Forked"
    parent: str = ""
    at_step: str = ""
    upto_seq: int = 0
    overrides: dict[str, JSON] = field(default_factory=dict)


# --- steps ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepScheduled(Event):
    """A fan-out child (branch, map item, worker) entered the frontier."""

    kind: ClassVar[str] = "StepScheduled"
    step_kind: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    """A step began running; `input_chars` is the size of what it received. A fan-out step (a map,
    parallel or supervisor) says how many children run at once (`concurrency`, None when not said) and,
    when a session-wide limit lowered what it asked for, which one (`concurrency_capped_by`, e.g.
    `defaults.concurrency`)."""

    kind: ClassVar[str] = "StepStarted"
    step_kind: str = ""
    model: str = ""
    attempt: int = 1
    reads: list[str] = field(default_factory=list)
    input_chars: int = 0
    orchestration: bool = False
    concurrency: int | None = None
    concurrency_capped_by: str = ""


@dataclass(frozen=True, slots=True)
class StepOutput(Event):
    """The step's output (text or structured), before any checkpoint decides on it."""

    kind: ClassVar[str] = "StepOutput"
    output: JSON = None
    reasoning: str = ""
    round: int = 1
    prompt: str = ""
    model: str = ""
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class StateUpdated(Event):
    """Changes to the session state: each op is `{"key", "op": replace|append|merge, "value"}`."""

    kind: ClassVar[str] = "StateUpdated"
    ops: list[dict[str, JSON]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StepCompleted(Event):
    """The completion record: after it commits the step never runs again.

    `writes` is the step's contribution to state (replayed on resume); `replaced` names the keys whose
    write replaces the value whatever the key's reducer (a person edited it at a gate); `status` is
    `completed` or `degraded`; `output` repeats the final output so replay needs no other event.
    """

    kind: ClassVar[str] = "StepCompleted"
    status: str = "completed"
    output: JSON = None
    writes: dict[str, JSON] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    note: str = ""
    next: str = ""


@dataclass(frozen=True, slots=True)
class StepFailed(Event):
    """The step failed after every layer of handling; the session stops here for a person."""

    kind: ClassVar[str] = "StepFailed"
    error: str = ""
    error_type: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class StepSkipped(Event):
    """The step will not run; `reason` says who decided and why."""

    kind: ClassVar[str] = "StepSkipped"
    reason: str = ""
    supplied: dict[str, JSON] = field(default_factory=dict)
    next: str = ""


@dataclass(frozen=True, slots=True)
class StepCancelled(Event):
    """The step was running when the session was paused or cancelled; it will run again on resume."""

    kind: ClassVar[str] = "StepCancelled"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Rerouted(Event):
    """Control moved from `step` to `target` (a router's choice or a person's reroute)."""

    kind: ClassVar[str] = "Rerouted"
    target: str = ""
    route: str = ""
    reason: str = ""
    by: str = "router"
    skipped: list[str] = field(default_factory=list)


# --- model and tool calls ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LLMCallStarted(Event):
    """A model call is about to be sent; `forecast_usd` is the pre-call cost range and `prompt_tokens` the
    prompt as counted for it — both only for a model with a known price (None and 0 otherwise: the
    tokens a call used are in `LLMCallFinished`)."""

    kind: ClassVar[str] = "LLMCallStarted"
    call_id: str = ""
    model: str = ""
    alias: str = ""
    attempt: int = 1
    request_hash: str = ""
    prompt_tokens: int = 0
    forecast_usd: list[float] | None = None
    turn: int = 0
    """The turn of an agent's tool loop (0 outside a loop)."""
    lessons: list[str] = field(default_factory=list)
    """Ids of the lessons in the call's system prompt (a step with `learn: true`; the texts are recorded
    with the session's options when it started)."""


@dataclass(frozen=True, slots=True)
class TokenDelta(Event):
    """Ephemeral streamed text of a call (never persisted)."""

    kind: ClassVar[str] = "TokenDelta"
    call_id: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class LLMCallFinished(Event):
    """A model call ended. `status`: ok | error | discarded (partial text of an abandoned attempt).

    `request` is the request as sent (messages and parameters, no credentials); `cost_usd` is None when
    the model has no known price; `replayed` calls were served from the session's record at $0.
    """

    kind: ClassVar[str] = "LLMCallFinished"
    call_id: str = ""
    model: str = ""
    alias: str = ""
    attempt: int = 1
    status: str = "ok"
    text: str = ""
    request_hash: str = ""
    request: dict[str, JSON] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: str = ""
    error_type: str = ""
    replayed: bool = False
    tool_calls: list[dict[str, JSON]] = field(default_factory=list)
    """Tools the model called in this answer: `{"id", "name", "arguments"}` (arguments as JSON text)."""
    turn: int = 0
    """The turn of an agent's tool loop this call answers (0 outside a loop)."""


@dataclass(frozen=True, slots=True)
class ToolsListed(Event):
    """The tools an agent is offered, recorded the first time it runs: a resumed session offers the same.
    Each: `{"name", "source", "origin", "description", "schema", "approval", "side_effects", "annotations"}`;
    `source` is python | mcp | agent, `origin` the callable, the server's name or the sub-agent's id."""

    kind: ClassVar[str] = "ToolsListed"
    tools: list[dict[str, JSON]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolCallRequested(Event):
    """A model asked to call a tool. `policy`: run (no approval needed) | ask (a person approves first) |
    granted (an always-for-this-session grant covers it) | invalid (unknown tool or arguments that do not
    fit its schema: the model is told why). `reason` says why the policy decided so."""

    kind: ClassVar[str] = "ToolCallRequested"
    call_id: str = ""
    idempotency_key: str = ""
    tool: str = ""
    source: str = ""
    origin: str = ""
    args: dict[str, JSON] = field(default_factory=dict)
    args_digest: str = ""
    policy: str = "run"
    reason: str = ""
    round: int = 1
    turn: int = 1


@dataclass(frozen=True, slots=True)
class ToolGrantChanged(Event):
    """An always-for-this-session grant: calls of `tool` (whose string arguments match `pattern`, argument
    name → glob, when given) run without asking. `granted` False revokes it."""

    kind: ClassVar[str] = "ToolGrantChanged"
    tool: str = ""
    pattern: dict[str, str] = field(default_factory=dict)
    granted: bool = True
    by: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallIntent(Event):
    """Written and committed before a side-effecting tool runs (idempotency key + argument hash)."""

    kind: ClassVar[str] = "ToolCallIntent"
    tool: str = ""
    idempotency_key: str = ""
    args_hash: str = ""
    args: dict[str, JSON] = field(default_factory=dict)
    side_effects: bool = True


@dataclass(frozen=True, slots=True)
class ToolCallFinished(Event):
    """A tool returned (`ok`) or raised."""

    kind: ClassVar[str] = "ToolCallFinished"
    tool: str = ""
    idempotency_key: str = ""
    ok: bool = True
    result: JSON = None
    error: str = ""
    latency_s: float = 0.0
    call_id: str = ""
    """The model's call id, for a call an agent made (empty for a `tool` step)."""
    outcome: str = ""
    """For an agent's call: done | failed | rejected (a person's message went back) | supplied (a person
    gave the result) | invalid (never ran: unknown tool or arguments that do not fit)."""


# --- resilience ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryScheduled(Event):
    """A failed attempt will be retried after `wait_s` (backoff with jitter, or the server's Retry-After)."""

    kind: ClassVar[str] = "RetryScheduled"
    call_id: str = ""
    model: str = ""
    attempt: int = 1
    wait_s: float = 0.0
    error: str = ""
    error_type: str = ""
    retry_after: bool = False


@dataclass(frozen=True, slots=True)
class FallbackUsed(Event):
    """The step moved down its fallback chain; the result will be marked degraded."""

    kind: ClassVar[str] = "FallbackUsed"
    from_model: str = ""
    to_model: str = ""
    reason: str = ""
    static: bool = False


@dataclass(frozen=True, slots=True)
class BreakerChanged(Event):
    """A model's circuit breaker changed state: closed, open or half_open."""

    kind: ClassVar[str] = "BreakerChanged"
    model: str = ""
    state: str = "closed"
    failures: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BudgetWarning(Event):
    """A budget is close to, or would be passed by, the next call (`blocked` = the call was not sent)."""

    kind: ClassVar[str] = "BudgetWarning"
    scope: str = "session"
    limit_usd: float = 0.0
    spent_usd: float = 0.0
    forecast_usd: float = 0.0
    blocked: bool = False


# --- the human in the loop -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointOpened(Event):
    """A person is asked to decide. Everything the decision needs travels with the event.

    `reason`: review | gate | confidence | cost | sample | before_tool | step_mode | breakpoint |
    escalation | budget | ambiguous. `options` lists the decisions offered; `targets` the allowed
    reroute targets; `forecasts` maps model alias → [low, high] USD (None when unknown).
    """

    kind: ClassVar[str] = "CheckpointOpened"
    checkpoint_id: str = ""
    reason: str = ""
    message: str = ""
    output: JSON = None
    reasoning: str = ""
    context: dict[str, JSON] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    forecasts: dict[str, JSON] = field(default_factory=dict)
    round: int = 1


@dataclass(frozen=True, slots=True)
class DecisionMade(Event):
    """A decision, persisted before the runner acts on it. `decision`: approve | edit | reject |
    reroute | retry_model | skip | pause. `by` is who (a user name, `auto`, a decisions file, or
    `rule:ID` — an accepted approval rule, `where` then `approval rule (ARG=GLOB, …)`);
    `where` from where (`inbox on HOST (pts/3)`, `cli on HOST`, `tui on HOST`, `line on HOST`,
    `decisions file`, `auto`; '' in records older than the field)."""

    kind: ClassVar[str] = "DecisionMade"
    checkpoint_id: str = ""
    decision: str = ""
    by: str = ""
    feedback: str = ""
    target: str = ""
    model: str = ""
    edited: JSON = None
    diff: str = ""
    supplied: dict[str, JSON] = field(default_factory=dict)
    command_id: int = 0
    where: str = ""


def by_a_person(by: str) -> bool:
    """Was a decision made by a person (directly, or through a decisions file they wrote), rather than by
    `--auto` or an approval rule? Only a person's decisions teach rules and routes."""
    return not (by == "auto" or by.startswith("rule:"))


@dataclass(frozen=True, slots=True)
class ControlChanged(Event):
    """Step mode or a breakpoint was switched by a viewer while the run goes on."""

    kind: ClassVar[str] = "ControlChanged"
    step_mode: bool | None = None
    breakpoint: str = ""
    enabled: bool = True
    by: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        SessionStarted,
        SessionResumed,
        SessionPaused,
        SessionCompleted,
        SessionFailed,
        Forked,
        StepScheduled,
        StepStarted,
        StepOutput,
        StateUpdated,
        StepCompleted,
        StepFailed,
        StepSkipped,
        StepCancelled,
        Rerouted,
        LLMCallStarted,
        TokenDelta,
        LLMCallFinished,
        ToolsListed,
        ToolCallRequested,
        ToolGrantChanged,
        ToolCallIntent,
        ToolCallFinished,
        RetryScheduled,
        FallbackUsed,
        BreakerChanged,
        BudgetWarning,
        CheckpointOpened,
        DecisionMade,
        ControlChanged,
    )
}

_PAYLOADS: dict[type[Event], tuple[tuple[str, ...], Callable[[Event], tuple[JSON, ...]]]] = {}

TERMINAL_SESSION_EVENTS = ("SessionCompleted", "SessionFailed", "SessionPaused")


def event_from_payload(kind: str, step: str, payload: Mapping[str, JSON]) -> Event:
    """Rebuild an event from its stored form; unknown fields (from a newer baton) are dropped."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    names = _payload_spec(cls)[0]
    kwargs = {k: v for k, v in payload.items() if k in names}
    return cls(step=step, **kwargs)


def encode_payload(event: Event) -> str:
    """Compact JSON of an event's payload (the stored form)."""
    if _ENCODE is None:
        return _ENCODER.encode(event.payload())
    return "".join(_ENCODE(event.payload(), 0))


def _payload_spec(cls: type[Event]) -> tuple[tuple[str, ...], Callable[[Event], tuple[JSON, ...]]]:
    """The payload's field names of an event class and a getter of their values, built once per class
    (every persisted event is encoded on the runner's hot path)."""
    spec = _PAYLOADS.get(cls)
    if spec is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "step")
        get = operator.attrgetter(*names) if names else None
        if get is None:
            values: Callable[[Event], tuple[JSON, ...]] = lambda event: ()  # noqa: E731
        elif len(names) == 1:
            values = lambda event: (get(event),)  # noqa: E731
        else:
            values = get
        spec = _PAYLOADS[cls] = (names, values)
    return spec


def envelope_from_json(obj: Mapping[str, JSON]) -> Envelope:
    """Parse the JSON-lines shape written by `Envelope.to_json` (lines written before the session id was
    named `session_id` call it `session`)."""
    payload = {k: v for k, v in obj.items() if k not in ("session_id", "session", "seq", "ts", "kind", "step")}
    event = event_from_payload(str(obj["kind"]), str(obj.get("step", "")), payload)
    session_id = obj["session_id"] if "session_id" in obj else obj["session"]
    return Envelope(str(session_id), int(obj["seq"]), float(obj["ts"]), event)


def _default(value: object) -> JSON:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)
"""One encoder for every payload (`json.dumps` with options builds a new one per call)."""
_C_ENCODER: Any = getattr(json_encoder, "c_make_encoder", None)
_ENCODE = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(None, _default, json_encoder.encode_basestring, None, ":", ",", False, False, True)
)
"""`_ENCODER`'s C core built once (`JSONEncoder.encode` builds it again on every call): the same output,
without the check for circular values, which a payload of JSON values never has."""
