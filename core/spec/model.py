"""The typed workflow spec. YAML files validate into these models; Python code can build them directly.

The state schema comes first: every key a step reads or writes is declared with a type, a reducer and
optional size limits. Steps form a list executed in order; `next`, routers and person reroutes move
forward only (a cycle is only possible inside a `loop`).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from baton.core.llm.offline import FaultKind
from baton.core.spec.agent_tools import Approval, FunctionTool, McpTools, check_tool_name
from baton.core.state import REDUCERS, TYPE_NAMES
from baton.core.structured import enum_values

ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
END = "end"
OUTPUT_TYPES = TYPE_NAMES
LABEL_RE = re.compile(r"^[^,\[\]\s](?:[^,\[\]\n]{0,62}[^,\[\]\s])?$")
"""A route label or enum value: no commas or brackets (they delimit `enum[a, b]`), no outer spaces."""

TypeName = Literal[
    "str", "int", "float", "bool", "dict", "list", "list[str]", "list[int]", "list[float]", "list[dict]", "any"
]
assert set(TypeName.__args__) == set(TYPE_NAMES)  # type: ignore[attr-defined]
Reducer = Literal["replace", "append", "merge"]
assert set(Reducer.__args__) == set(REDUCERS)  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StateKey(_Strict):
    """A declared state key."""

    type: TypeName = "str"
    reducer: Reducer = "replace"
    description: str = ""
    default: Any = None
    max_chars: int | None = Field(default=None, gt=0)
    max_items: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    on_overflow: Literal["fail", "truncate"] = "fail"

    @model_validator(mode="after")
    def _reducer_fits_type(self) -> StateKey:
        if self.reducer == "append" and not (self.type == "list" or self.type.startswith("list[")):
            raise ValueError(f"reducer 'append' needs a list type (list, list[str], ...), not {self.type}")
        if self.reducer == "merge" and self.type != "dict":
            raise ValueError(f"reducer 'merge' needs type dict, not {self.type}")
        return self


class InputSpec(_Strict):
    """A workflow input: a state key the person (or `--input`) provides when a session starts."""

    description: str = ""
    default: Any = None
    required: bool = True
    choices: list[str] | None = None


class _Scripted(_Strict):
    """A scripted entry: dumped exactly as written, so the offline model reads what the file says."""

    @model_serializer(mode="plain")
    def _as_written(self) -> dict[str, Any]:
        return {
            (info.alias or name): getattr(self, name)
            for name, info in type(self).model_fields.items()
            if name in self.model_fields_set
        }


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"'match' is not a valid regular expression: {exc}") from None
    return value


class MockToolCall(_Scripted):
    """A tool call in a scripted reply: the tool's `name` and its `args` (or the raw `arguments` text the
    model writes, to script arguments that are not valid JSON); `id` when a test needs a fixed call id."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    arguments: str | None = None
    id: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_way(self) -> MockToolCall:
        if self.arguments is not None and "args" in self.model_fields_set:
            raise ValueError("give a tool call's arguments as 'args' or as raw 'arguments' text, not both")
        return self


class MockReply(_Scripted):
    """A scripted reply of the offline model: the first entry whose `match`, `call` and `turn` fit is the
    answer. `call` counts this process's requests to the model (retries included); `turn` counts the model
    turns of the current tool loop (1 after the person's message, 2 once the first tool results are back…),
    so it holds across retries and resumes. The answer is `text` or `json`, `tool_calls`, or text and calls."""

    match: str | None = None
    call: int | None = Field(default=None, ge=1)
    turn: int | None = Field(default=None, ge=1)
    text: str | None = None
    json_value: Any = Field(default=None, alias="json")
    tool_calls: list[MockToolCall] | None = None

    _match = field_validator("match")(_regex)

    @model_validator(mode="after")
    def _one_answer(self) -> MockReply:
        has_json = "json_value" in self.model_fields_set
        if self.text is not None and has_json:
            raise ValueError("a scripted reply has either 'text' or 'json'")
        if self.text is None and not has_json and not self.tool_calls:
            raise ValueError("a scripted reply needs 'text', 'json' or 'tool_calls'")
        return self


class MockFault(_Scripted):
    """A scripted failure of the offline model, on a call number, a set of calls, or prompts matching a regex."""

    on_call: int | None = Field(default=None, ge=1)
    calls: list[Annotated[int, Field(ge=1)]] | None = None
    match: str | None = None
    error: FaultKind | None = None
    kind: FaultKind | None = None
    after_chunks: int = Field(default=0, ge=0)
    retry_after: float | None = Field(default=None, ge=0)
    stall_s: float = Field(default=3600.0, gt=0)
    message: str = ""

    _match = field_validator("match")(_regex)

    @model_validator(mode="after")
    def _one_kind(self) -> MockFault:
        if self.error is not None and self.kind is not None and self.error != self.kind:
            raise ValueError("give the fault as 'error' (or 'kind'), not both")
        return self


class MockSpec(_Strict):
    """Behaviour of the built-in offline model (`mock/...`): timing, scripted replies and faults."""

    latency_s: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0)
    min_tokens: int = Field(default=40, ge=1)
    max_tokens: int = Field(default=120, ge=1)
    seed: int = 0
    replies: list[MockReply] = Field(default_factory=list)
    faults: list[MockFault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _token_range(self) -> MockSpec:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) is more than max_tokens ({self.max_tokens})")
        return self


class ModelSpec(_Strict):
    """What a model alias points at. Keys never live here: they come from the environment."""

    model: str
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    api_base: str | None = None
    api_key_env: str | None = None
    context_window: int | None = Field(default=None, gt=0)
    params: dict[str, Any] = Field(default_factory=dict)
    mock: MockSpec | None = None

    @field_validator("params")
    @classmethod
    def _no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if "key" in key.lower() or "secret" in key.lower() or key.lower() == "token":
                raise ValueError(f"'{key}' looks like a credential: keys come from the environment only")
        return value


class RetryPolicy(_Strict):
    """Retries of transient model errors (rate limit, 5xx, connection, timeout)."""

    attempts: int = Field(default=3, ge=1, le=20)
    backoff_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])
    jitter: bool = True
    max_wait_s: float = Field(default=60.0, gt=0)


class TimeoutPolicy(_Strict):
    """Stream watchdogs: time to first token, and idle time between chunks."""

    first_token_s: float = Field(default=30.0, gt=0)
    idle_s: float = Field(default=30.0, gt=0)
    total_s: float | None = Field(default=None, gt=0)


class BudgetSpec(_Strict):
    """A spending cap checked before each call with a forecast."""

    max_usd: float = Field(gt=0)


class ReviewSpec(_Strict):
    """Where a checkpoint opens for this step (all that apply)."""

    mode: Literal["never", "always", "on_failure"] | None = None
    when: str | None = None
    before_tools: bool | None = None
    cost_over: float | None = Field(default=None, ge=0)
    sample: float | None = Field(default=None, ge=0, le=1)
    max_rejections: int = Field(default=5, ge=1)


def _coerce_review(value: Any) -> Any:
    if value is None:
        return ReviewSpec()
    if isinstance(value, str):
        if value == "before_tools":
            return {"before_tools": True}
        return {"mode": value}
    return value


class StepBase(_Strict):
    """Fields every step kind has."""

    id: str
    description: str = ""
    reads: list[str] = Field(default_factory=list)
    writes: list[str] = Field(default_factory=list)
    next: str | None = None
    review: Annotated[ReviewSpec, Field(default_factory=ReviewSpec)]
    reroute: list[str] | None = None
    orchestration: bool | None = None
    budget: BudgetSpec | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError("a step id starts with a letter and has only letters, digits, '_' and '-'")
        if value == END:
            raise ValueError("'end' is reserved")
        return value

    @field_validator("review", mode="before")
    @classmethod
    def _review(cls, value: Any) -> Any:
        return _coerce_review(value)

    @model_serializer(mode="wrap")
    def _with_kind(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Keep `kind` even when defaults are left out: it is what tells the step kinds apart."""
        data = handler(self)
        kind = getattr(self, "kind", None)
        if isinstance(data, dict) and kind is not None and "kind" not in data:
            data = {"id": data.pop("id"), "kind": kind, **data} if "id" in data else {"kind": kind, **data}
        return data

    @property
    def read_keys(self) -> list[str]:
        """Keys read, without the optional marker."""
        return [r.rstrip("?") for r in self.reads]

    @property
    def optional_reads(self) -> set[str]:
        """Keys read as `key?`: missing is fine."""
        return {r[:-1] for r in self.reads if r.endswith("?")}


def output_type_problem(typ: str) -> str | None:
    """Why `typ` is not a structured-output field type (None when it is one)."""
    base = typ.removesuffix("?")
    inner = base[5:-1] if base.startswith("list[enum[") and base.endswith("]]") else base
    values = enum_values(inner)
    if values is not None:
        if not values:
            return f"'{typ}' lists no values"
        bad = [v for v in values if not LABEL_RE.match(v)]
        if bad:
            return f"enum value {bad[0]!r} is not a label (at most 64 characters, no ',', '[' or ']')"
        if len(set(values)) != len(values):
            return f"'{typ}' repeats a value"
        return None
    if base not in OUTPUT_TYPES:
        close = difflib.get_close_matches(base, OUTPUT_TYPES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return (
            f"unknown type '{typ}'{hint}; one of {', '.join(OUTPUT_TYPES)}, enum[a, b], list[enum[a, b]] "
            "(add '?' for an optional field)"
        )
    return None


def _output_type(value: str) -> str:
    problem = output_type_problem(value)
    if problem:
        raise ValueError(problem)
    return value


OutputType = Annotated[str, AfterValidator(_output_type)]
"""A structured-output field type: a state type, `enum[a, b]` or `list[enum[a, b]]`, optionally ending in `?`."""


class CallPolicy(_Strict):
    """Shared by steps that call a model: retry, watchdogs, fallbacks."""

    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    fallback: list[str] = Field(default_factory=list)
    fallback_static: Any = None
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)


class AgentStep(StepBase, CallPolicy):
    """A model call; optional structured output validated against `output`. With `tools`, a loop: the
    model calls tools, sees their results, and goes on until it answers without a call (or `max_turns`)."""

    kind: Literal["agent"] = "agent"
    model: str | None = None
    system: str = ""
    prompt: str = ""
    output: dict[str, OutputType] | None = None
    tools: list[ToolEntry] = Field(default_factory=list)
    max_turns: int = Field(default=10, ge=1, le=200)
    parallel_tool_calls: bool = True
    tool_choice: str | None = None
    on_tool_error: Literal["return_to_model", "fail", "ask"] = "return_to_model"
    max_result_chars: int = Field(default=8000, ge=100)
    learn: bool = False
    """Append the step's lessons (a person's feedback when they rejected its answers) to its system prompt."""

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_shape(cls, value: str | None) -> str | None:
        if value is not None and value not in ("auto", "required", "none"):
            check_tool_name(value)
        return value

    @field_validator("output")
    @classmethod
    def _output_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and not value:
            raise ValueError("'output' needs at least one field (or leave it out for a text reply)")
        return value


class DelegateTool(_Strict):
    """Another agent as a tool: the model hands it a sub-task (`task`), it runs as a child step with its own
    model, tools, prompt, pane and checkpoints, and its answer is the tool's result."""

    step: AgentStep
    description: str = ""
    approval: Approval = "default"
    max_result_chars: int | None = Field(default=None, ge=100)

    @model_validator(mode="before")
    @classmethod
    def _task_prompt(cls, value: Any) -> Any:
        """A sub-agent without a prompt is given the task as its prompt."""
        if isinstance(value, dict) and isinstance(value.get("step"), dict) and not value["step"].get("prompt"):
            value = {**value, "step": {"kind": "agent", **value["step"], "prompt": "{task}"}}
        return value

    @field_validator("step")
    @classmethod
    def _no_writes(cls, step: AgentStep) -> AgentStep:
        if step.writes:
            raise ValueError(
                f"a delegated agent does not write state (its answer is the tool's result): "
                f"remove 'writes' from '{step.id}'"
            )
        return step

    @property
    def tool_name(self) -> str:
        """The name the model calls it by: the sub-agent's id."""
        return self.step.id


def _tool_entry_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        found = [k for k in ("call", "mcp", "step") if k in value]
        return found[0] if len(found) == 1 else None
    if isinstance(value, FunctionTool):
        return "call"
    if isinstance(value, McpTools):
        return "mcp"
    if isinstance(value, DelegateTool):
        return "step"
    return None


ToolEntry = Annotated[
    Annotated[FunctionTool, Tag("call")] | Annotated[McpTools, Tag("mcp")] | Annotated[DelegateTool, Tag("step")],
    Discriminator(
        _tool_entry_kind,
        custom_error_type="tool_entry",
        custom_error_message="a tool entry needs exactly one of 'call' (Python), 'mcp' (a server) or 'step' (an agent)",
    ),
]


class RouteRule(_Strict):
    """A rule of a rules router: the first whose `when` holds picks `route`."""

    when: str
    route: str


class RouterStep(StepBase, CallPolicy):
    """Picks the next step among named routes: by rules, by a (cheap) model, or rules then model."""

    kind: Literal["router"] = "router"
    model: str | None = None
    system: str = ""
    prompt: str = ""
    routes: dict[str, str]
    rules: list[RouteRule] = Field(default_factory=list)
    default: str | None = None

    @field_validator("routes")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a router needs at least one route (label: step id)")
        for label in value:
            if not LABEL_RE.match(label):
                raise ValueError(f"route label {label!r} is not a label (at most 64 characters, no ',', '[' or ']')")
        return value


class ToolStep(StepBase):
    """A Python callable by import path (`package.module:function`)."""

    kind: Literal["tool"] = "tool"
    call: str
    args: dict[str, Any] = Field(default_factory=dict)
    side_effects: bool = True
    timeout_s: float | None = Field(default=None, gt=0)


class GateStep(StepBase):
    """A pure human checkpoint."""

    kind: Literal["gate"] = "gate"
    message: str = ""


class ParallelStep(StepBase):
    """Fixed branches run concurrently; their writes fan in through the reducers in branch order."""

    kind: Literal["parallel"] = "parallel"
    branches: list[Step] = Field(min_length=1)
    concurrency: int | None = Field(default=None, ge=1)


class MapStep(StepBase):
    """Runs `step` once per item of the list `over`, at most `concurrency` at a time."""

    kind: Literal["map"] = "map"
    over: str
    item: str = Field(default="item", alias="as")
    step: Step
    concurrency: int = Field(default=4, ge=1, le=256)
    max_items: int = Field(default=100, ge=1)
    label: str | None = None
    """How an item is named where it is shown (`"{file}"`): a template over the item's fields, its `as`
    name and `{index}`; default: the item's first short text, else `#<index>`."""


class ManagerSpec(CallPolicy):
    """The manager of a supervisor: returns which workers run, and why."""

    model: str | None = None
    system: str = ""
    prompt: str = ""


class SupervisorStep(StepBase):
    """Hierarchical: a manager decides which workers run; only those run; then `synthesis`."""

    kind: Literal["supervisor"] = "supervisor"
    manager: ManagerSpec
    workers: list[Step] = Field(min_length=1)
    synthesis: Step | None = None
    concurrency: int | None = Field(default=None, ge=1)


class LoopStep(StepBase):
    """Evaluator-optimizer: run `steps`, then the `judge` (or the `until` rule); repeat until it passes."""

    kind: Literal["loop"] = "loop"
    steps: list[Step] = Field(min_length=1)
    judge: Step | None = None
    until: str | None = None
    max_iterations: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _has_exit(self) -> LoopStep:
        if self.judge is None and self.until is None:
            raise ValueError("a loop needs a 'judge' step or an 'until' rule")
        return self


class SequenceStep(StepBase):
    """Steps in order, as one step (e.g. one parallel branch made of several steps)."""

    kind: Literal["sequence"] = "sequence"
    steps: list[Step] = Field(min_length=1)


Step = Annotated[
    AgentStep | RouterStep | ToolStep | GateStep | ParallelStep | MapStep | SupervisorStep | LoopStep | SequenceStep,
    Field(discriminator="kind"),
]
STEP_KINDS = ("agent", "router", "tool", "gate", "parallel", "map", "supervisor", "loop", "sequence")
ORCHESTRATION_KINDS = ("router",)


class Defaults(_Strict):
    """Workflow-wide defaults for steps that call models."""

    model: str | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: TimeoutPolicy = Field(default_factory=TimeoutPolicy)
    max_tokens: int = Field(default=1024, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)


class WorkflowSpec(_Strict):
    """A whole workflow: state schema first, then inputs, models, defaults and steps."""

    name: str
    description: str = ""
    version: int = 1
    state: dict[str, StateKey] = Field(default_factory=dict)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    budget: BudgetSpec | None = None
    outputs: list[str] | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("state", mode="before")
    @classmethod
    def _state_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"type": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("outputs", mode="before")
    @classmethod
    def _outputs_shorthand(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(k): {} for k in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _models_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"model": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value


for _cls in (AgentStep, DelegateTool, ParallelStep, MapStep, SupervisorStep, LoopStep, SequenceStep, WorkflowSpec):
    _cls.model_rebuild()
