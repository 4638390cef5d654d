"""The typed workflow spec. YAML files validate into these models; Python code can build them directly.

The state schema comes first: every key a step reads or writes is declared with a type, a reducer and
optional size limits. Steps form a list executed in order; `next`, routers and person reroutes move
forward only (a cycle is only possible inside a `loop`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.state import REDUCERS, TYPE_NAMES

ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
END = "end"
OUTPUT_TYPES = ("str", "int", "float", "bool", "list[str]", "list[int]", "list[float]", "dict", "list")

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
            raise ValueError(f"reducer 'append' needs a list type, not {self.type}")
        if self.reducer == "merge" and self.type not in ("dict", "any"):
            raise ValueError(f"reducer 'merge' needs type dict, not {self.type}")
        return self


class InputSpec(_Strict):
    """A workflow input: a state key the person (or `--input`) provides when a session starts."""

    description: str = ""
    default: Any = None
    required: bool = True
    choices: list[str] | None = None


class MockSpec(_Strict):
    """Behaviour of the built-in offline model (`mock/...`): timing, scripted replies and faults."""

    latency_s: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0)
    min_tokens: int = Field(default=40, ge=1)
    max_tokens: int = Field(default=120, ge=1)
    seed: int = 0
    replies: list[dict[str, Any]] = Field(default_factory=list)
    faults: list[dict[str, Any]] = Field(default_factory=list)


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

    @property
    def read_keys(self) -> list[str]:
        """Keys read, without the optional marker."""
        return [r.rstrip("?") for r in self.reads]

    @property
    def optional_reads(self) -> set[str]:
        """Keys read as `key?`: missing is fine."""
        return {r[:-1] for r in self.reads if r.endswith("?")}


class CallPolicy(_Strict):
    """Shared by steps that call a model: retry, watchdogs, fallbacks."""

    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    fallback: list[str] = Field(default_factory=list)
    fallback_static: Any = None
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)


class AgentStep(StepBase, CallPolicy):
    """One model call; optional structured output validated against `output`."""

    kind: Literal["agent"] = "agent"
    model: str | None = None
    system: str = ""
    prompt: str = ""
    output: dict[str, str] | None = None

    @field_validator("output")
    @classmethod
    def _output_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            for name, typ in value.items():
                base = typ.removesuffix("?")
                if base not in OUTPUT_TYPES and not base.startswith("enum["):
                    raise ValueError(f"output field '{name}': unknown type '{typ}'")
        return value


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
    branches: list[Step]
    concurrency: int | None = Field(default=None, ge=1)


class MapStep(StepBase):
    """Runs `step` once per item of the list `over`, at most `concurrency` at a time."""

    kind: Literal["map"] = "map"
    over: str
    item: str = Field(default="item", alias="as")
    step: Step
    concurrency: int = Field(default=4, ge=1, le=256)
    max_items: int = Field(default=100, ge=1)


class ManagerSpec(CallPolicy):
    """The manager of a supervisor: returns which workers run, and why."""

    model: str | None = None
    system: str = ""
    prompt: str = ""


class SupervisorStep(StepBase):
    """Hierarchical: a manager decides which workers run; only those run; then `synthesis`."""

    kind: Literal["supervisor"] = "supervisor"
    manager: ManagerSpec
    workers: list[Step]
    synthesis: Step | None = None
    concurrency: int | None = Field(default=None, ge=1)


class LoopStep(StepBase):
    """Evaluator-optimizer: run `steps`, then the `judge` (or the `until` rule); repeat until it passes."""

    kind: Literal["loop"] = "loop"
    steps: list[Step]
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
    steps: list[Step]


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
    steps: list[Step] = Field(min_length=1)

    @field_validator("state", mode="before")
    @classmethod
    def _state_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"type": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

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


for _cls in (ParallelStep, MapStep, SupervisorStep, LoopStep, SequenceStep, WorkflowSpec):
    _cls.model_rebuild()
