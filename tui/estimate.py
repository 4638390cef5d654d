"""`baton estimate FLOW`: what a run will likely cost, with the range it can cost, before anything runs.

Each model call is priced like the runner's pre-call forecast: the prompt it would send counted with
litellm's token counter × the input price, plus output tokens × the output price. The output is where the
uncertainty is, so each call gets three lengths: a short answer (low), a typical one (likely) and its
`max_tokens` ceiling (high). Typical lengths come from the model when it says (the offline model's
configured token range), from the reply's shape for structured replies (a route and a reason are a few
dozen tokens), and otherwise from a typical chat answer. What a step reads from earlier steps is sized
from what those steps write at each of the three lengths. Routes give the total's range (the cheapest and
the dearest path) and a likely figure per path; maps repeat per item, loops 1 … max_iterations. Retries
and fallbacks are not included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.core.economics import usd
from baton.core.llm.types import LLMClient
from baton.core.runner.engine import initial_state
from baton.core.runner.forecast import CallShape, Pass, one_pass, request, user_message
from baton.core.spec.graph import successors, top_index
from baton.core.spec.load import Workflow
from baton.core.spec.model import END, MockSpec, ModelSpec, Step, ToolStep, WorkflowSpec
from baton.core.state import CHARS_PER_TOKEN, size_chars
from baton.core.structured import enum_values

# Tokens a read adds around its value in a prompt (a `### key` heading, list bullets) beyond the value.
READ_OVERHEAD = 8
PER_WRITE_OVERHEAD = 4
# A typical chat answer, and a short one, for a model that does not say (each capped by `max_tokens`).
TYPICAL_ANSWER_TOKENS = 350
SHORT_ANSWER_TOKENS = 60
# Text one model wrote, counted again by another model's tokenizer in a later prompt, can come out longer.
RECOUNT_LIKELY = 1.25
RECOUNT_HIGH = 1.5
# A judge passes in about one round and a half; a manager picks about half its workers.
LIKELY_ROUNDS = 1.5
LIKELY_WORKER_SHARE = 0.5
# Reply tokens of a structured field, by type: (short, typical).
_FIELD_TOKENS = {"enum": (2, 3), "bool": (1, 2), "int": (1, 3), "float": (1, 3), "str": (4, 30), "list": (2, 20)}
_FIELD_OVERHEAD = 3
Triple = list[Any]
"""[low, likely, high]: a float each, or None when it cannot be known before running."""
Span = tuple[float, float | None]
"""A low and a high figure; the high one is unknown (None) when it cannot be bounded."""


@dataclass
class StepEstimate:
    """One top-level step: its calls, tokens and cost (high None = not bounded; likely None = not known)."""

    path: str
    kind: str
    models: str
    calls: tuple[int, int]
    prompt_tokens: tuple[int, int | None]
    output_tokens: tuple[int, int]
    usd: Span | None
    conditional: bool = False
    notes: list[str] = field(default_factory=list)
    likely_usd: float | None = None
    likely_tokens: tuple[int, int] | None = None


@dataclass
class PathEstimate:
    """One way through the routes: its top-level steps, what a run along it likely costs, and its range."""

    steps: list[str]
    likely_usd: float | None
    usd: Span | None = None


@dataclass
class Estimate:
    """A workflow's cost per run (likely, and the range), and at `runs` runs."""

    workflow: str
    path: str
    steps: list[StepEstimate]
    total: Span | None
    runs: int
    unpriced: list[str] = field(default_factory=list)
    paths: list[PathEstimate] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def likely(self) -> tuple[float, float] | None:
        """The likely cost of the cheapest and the dearest path (None when a path's is unknown)."""
        values = [p.likely_usd for p in self.paths]
        if not values or any(v is None for v in values):
            return None
        known = [v for v in values if v is not None]
        return min(known), max(known)


def _add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a + b


def _mul(a: Any, n: float | None) -> Any:
    return None if a is None or n is None else a * n


@dataclass
class _Acc:
    """Running totals while pricing one step: calls, tokens in and out, cost, each [low, likely, high]."""

    calls: Triple = field(default_factory=lambda: [0, 0.0, 0])
    tokens_in: Triple = field(default_factory=lambda: [0, 0.0, 0])
    tokens_out: Triple = field(default_factory=lambda: [0, 0.0, 0])
    cost: Triple = field(default_factory=lambda: [0.0, 0.0, 0.0])
    unknown_price: bool = False
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def scaled(self, lo: int, likely: float | None, hi: int) -> _Acc:
        out = _Acc(unknown_price=self.unknown_price, models=list(self.models), notes=list(self.notes))
        for name in ("calls", "tokens_in", "tokens_out", "cost"):
            mine = getattr(self, name)
            setattr(out, name, [mine[0] * lo, None if likely is None else _mul(mine[1], likely), _mul(mine[2], hi)])
        return out

    def add(self, other: _Acc, optional: bool = False, likely_share: float = 1.0) -> None:
        for name in ("calls", "tokens_in", "tokens_out", "cost"):
            mine, theirs = getattr(self, name), getattr(other, name)
            mine[0] += 0 if optional else theirs[0]
            mine[1] = _add(mine[1], _mul(theirs[1], likely_share if optional else 1.0))
            mine[2] = _add(mine[2], theirs[2])
        self.unknown_price = self.unknown_price or other.unknown_price
        self.models += [m for m in other.models if m not in self.models]
        self.notes += [n for n in other.notes if n not in self.notes]


def reply_tokens(fields: Mapping[str, str]) -> tuple[int, int]:
    """A structured reply's (short, typical) length in tokens, from its fields' types."""
    short = typical = 2
    for typ in fields.values():
        base = typ.removesuffix("?")
        kind = "enum" if enum_values(base) is not None else base.split("[", 1)[0]
        lo, mid = _FIELD_TOKENS.get(kind, (4, 30))
        short += lo + _FIELD_OVERHEAD
        typical += mid + _FIELD_OVERHEAD
    return short, typical


def output_tokens(call: CallShape, model: ModelSpec | None, ceiling: int) -> tuple[int, int, int]:
    """(low, likely, high) output tokens of one call; high is the ceiling (or the offline model's maximum)."""
    if call.fields:
        short, typical = reply_tokens(call.fields)
        return min(short, ceiling), min(typical, ceiling), ceiling
    if model is not None and model.model.startswith("mock/"):
        mock = model.mock or MockSpec()
        if mock.replies:
            return 1, min(ceiling, TYPICAL_ANSWER_TOKENS), ceiling
        lo, hi = min(mock.min_tokens, ceiling), min(mock.max_tokens, ceiling)
        # The offline model ends on a sentence, so an answer may stop up to a sentence short of its length.
        return max(1, lo - 25), (lo + hi) // 2, hi
    return min(SHORT_ANSWER_TOKENS, ceiling), min(TYPICAL_ANSWER_TOKENS, ceiling), ceiling


class Estimator:
    """Prices a workflow's steps in order, tracking how large each state key may be by then."""

    def __init__(
        self, spec: WorkflowSpec, models: Mapping[str, ModelSpec], llm: LLMClient, inputs: Mapping[str, Any]
    ) -> None:
        self.spec = spec
        self.models = models
        self.llm = llm
        self.known: dict[str, Any] = initial_state(spec, inputs)
        # Keys written while the workflow runs: [low, likely, high] tokens; None = unknown (a tool's output).
        self.sizes: dict[str, Triple] = {}
        self.unpriced: set[str] = set()
        self.item: Triple = [0, 0, 0]

    def step(self, step: Step) -> _Acc:
        """Price one top-level step, then record what it may write."""
        acc = self._pass(one_pass(self.spec, step, step.id))
        if isinstance(step, ToolStep):
            for key in step.writes:
                limit = self.spec.state[key].max_chars if key in self.spec.state else None
                self._write(key, [0, None, limit])
        return acc

    def _pass(self, p: Pass) -> _Acc:
        if p.per_item:
            return self._per_item(p)
        if p.repeat != (1, 1):
            return self._rounds(p)
        acc = _Acc()
        for call in p.shapes:
            acc.add(self._call(call), optional=call.optional, likely_share=1.0)
        for child in p.children:
            acc.add(self._pass(child), optional=p.optional_children, likely_share=LIKELY_WORKER_SHARE)
        if p.optional_children:
            acc.notes.append("the manager picks which workers run (likely: about half)")
        return acc

    def _rounds(self, p: Pass) -> _Acc:
        """A loop: the first round is the low end; the high end prices every round in turn, so what a
        round writes (feedback, drafts, appended notes) is in the next round's prompt."""
        once = Pass(p.shapes, children=p.children, optional_children=p.optional_children)
        first = self._pass(once)
        acc = first.scaled(1, 1, 1)
        extra = min(LIKELY_ROUNDS, p.repeat[1]) - 1
        for i in range(p.repeat[1] - 1):
            later = self._pass(once)
            for name in ("calls", "tokens_in", "tokens_out", "cost"):
                mine, theirs = getattr(acc, name), getattr(later, name)
                mine[2] = _add(mine[2], theirs[2])
                if i == 0 and extra > 0:
                    mine[1] = _add(mine[1], _mul(theirs[1], extra))
        acc.notes.append(f"{p.repeat[0]}–{p.repeat[1]} iterations")
        return acc

    def _per_item(self, p: Pass) -> _Acc:
        """A map: one item priced (with the item as large as the list may hold), times the item count;
        what the items append is counted once per item."""
        value = self.known.get(p.over) if p.over not in self.sizes else None
        count: tuple[int, int | None, int]
        if isinstance(value, list):
            count = (len(value), len(value), len(value))
            chars = [size_chars(v) for v in value] or [0]
            item: Triple = [min(chars) // CHARS_PER_TOKEN, sum(chars) // len(chars) // CHARS_PER_TOKEN, max(chars)]
        else:
            count = (0, None, p.repeat[1])
            size = self.sizes.get(p.over, [0, None, None])
            item = [0, 0, size[2]]  # likely: the item's own text left out (noted below)
        before = {k: list(v) for k, v in self.sizes.items()}
        self.item = item
        try:
            one = _Acc()
            for child in p.children:
                one.add(self._pass(child))
        finally:
            self.item = [0, 0, 0]
        for key, now in list(self.sizes.items()):
            was = before.get(key)
            decl = self.spec.state.get(key)
            if was != now and decl is not None and decl.reducer == "append":
                base = was if was is not None else [0, 0, 0]
                grown = [_add(base[i], _mul(_add(now[i], _mul(base[i], -1)), count[i])) for i in range(3)]
                self.sizes[key] = grown
        acc = one.scaled(count[0], count[1], count[2])
        acc.notes.append(f"× {count[0]}" + (f"–{count[2]}" if count[2] != count[0] else "") + " items")
        if count[1] is None and one.cost[1] is not None and not one.unknown_price:
            acc.notes.append(f"likely {money(one.cost[1])} per item, plus the item's own text")
        return acc

    def _call(self, call: CallShape) -> _Acc:
        acc = _Acc(models=[call.alias])
        known = {k: v for k, v in self.known.items() if k not in self.sizes}
        req = request(self.spec, self.models, call, user_message(call, known))
        if req is None:
            acc.unknown_price = True
            return acc
        tokens, rng = self.llm.forecast(req)
        extra: Triple = list(self.item)
        if extra[2] is None:
            acc.notes.append("each item's size is known only after running")
        for key in call.reads:
            if key in self.sizes:
                size = self.sizes[key]
                if size[2] is None:
                    acc.notes.append(f"reads '{key}', whose size is known only after running")
                extra = [_add(extra[i], _add(size[i], READ_OVERHEAD)) for i in range(3)]
        ceiling = req.max_tokens or self.spec.defaults.max_tokens
        out = output_tokens(call, self.models.get(call.alias), ceiling)
        acc.calls = [1, 1.0, 1]
        acc.tokens_in = [tokens + extra[0], _add(tokens, extra[1]), _add(tokens, extra[2])]
        acc.tokens_out = list(out)
        price_in, price_out = self.llm.cost(req.model, 1, 0), self.llm.cost(req.model, 0, 1)
        if rng is None or price_in is None or price_out is None:
            acc.unknown_price = True
            self.unpriced.add(req.model)
            acc.cost = [0.0, None, None]
        else:
            acc.cost = [_add(_mul(acc.tokens_in[i], price_in), out[i] * price_out) for i in range(3)]
        for key in call.writes:
            self._write(key, [out[0], out[1] * RECOUNT_LIKELY, out[2] * RECOUNT_HIGH + PER_WRITE_OVERHEAD])
        return acc

    def _write(self, key: str, size: Triple) -> None:
        reducer = self.spec.state[key].reducer if key in self.spec.state else "replace"
        before = self.sizes.get(key)
        if reducer == "append" and before is not None:
            self.sizes[key] = [_add(before[i], size[i]) for i in range(3)]
        elif reducer == "append" and isinstance(self.known.get(key), list) and self.known[key]:
            self.sizes[key] = [size[0], None, None]
        else:
            self.sizes[key] = list(size)


def estimate(
    workflow: Workflow,
    models: Mapping[str, ModelSpec],
    llm: LLMClient,
    inputs: Mapping[str, Any] | None = None,
    runs: int = 1000,
) -> Estimate:
    """The likely cost and the range of one run of `workflow` (and of `runs` runs), step by step."""
    spec = workflow.spec
    est = Estimator(spec, models, llm, inputs or {})
    accs = [est.step(step) for step in spec.steps]
    always = _on_every_path(spec)
    rows = []
    for i, (step, acc) in enumerate(zip(spec.steps, accs, strict=True)):
        priced: Span | None = None if acc.unknown_price else (acc.cost[0], acc.cost[2])
        likely_out = acc.tokens_out[1]
        rows.append(
            StepEstimate(
                step.id,
                step.kind,
                ", ".join(acc.models),
                (acc.calls[0], acc.calls[2]),
                (int(acc.tokens_in[0]), None if acc.tokens_in[2] is None else int(acc.tokens_in[2])),
                (int(acc.tokens_out[0]), int(acc.tokens_out[2])),
                priced,
                conditional=i not in always,
                notes=acc.notes,
                likely_usd=None if acc.unknown_price else acc.cost[1],
                likely_tokens=None
                if acc.tokens_in[1] is None or likely_out is None
                else (round(acc.tokens_in[1]), round(likely_out)),
            )
        )
    used = {alias: models[alias].model for acc in accs for alias in acc.models if alias in models}
    return Estimate(
        spec.name, workflow.path, rows, _total(spec, rows), runs, sorted(est.unpriced), _paths(spec, rows), used
    )


def _total(spec: WorkflowSpec, rows: list[StepEstimate]) -> Span | None:
    """The cheapest and the dearest path through the routes (steps only move forward)."""
    index = top_index(spec)
    best: dict[int, Span | None] = {}
    for i in range(len(spec.steps) - 1, -1, -1):
        own = rows[i].usd
        if own is None:
            best[i] = None
            continue
        after: list[Span | None] = [
            (0.0, 0.0) if target == END else best[index[target]] for target in successors(spec, i)
        ]
        if any(a is None for a in after):
            best[i] = None
            continue
        spans = [a for a in after if a is not None]
        low = own[0] + min(a[0] for a in spans)
        highs = [a[1] for a in spans]
        high = None if own[1] is None or any(h is None for h in highs) else own[1] + max(h or 0.0 for h in highs)
        best[i] = (low, high)
    return best[0] if spec.steps else (0.0, 0.0)


MAX_PATHS = 64


def _paths(spec: WorkflowSpec, rows: list[StepEstimate]) -> list[PathEstimate]:
    """Every way through the routes (up to MAX_PATHS), each with its likely cost."""
    if not spec.steps:
        return []
    index = top_index(spec)
    out: list[PathEstimate] = []

    def walk(i: int, taken: list[int]) -> None:
        if len(out) >= MAX_PATHS:
            return
        taken = [*taken, i]
        for target in successors(spec, i):
            if target == END:
                likely = [rows[j].likely_usd for j in taken]
                total = None if any(v is None for v in likely) else sum(v or 0.0 for v in likely)
                spans = [rows[j].usd for j in taken]
                span: Span | None = None
                if all(s is not None for s in spans):
                    highs = [s[1] for s in spans if s is not None]
                    high = None if any(h is None for h in highs) else sum(h or 0.0 for h in highs)
                    span = (sum(s[0] for s in spans if s is not None), high)
                out.append(PathEstimate([spec.steps[j].id for j in taken], total, span))
            else:
                walk(index[target], taken)

    walk(0, [])
    return out


def _on_every_path(spec: WorkflowSpec) -> set[int]:
    """Top-level steps that run whichever route is taken."""
    index = top_index(spec)
    must: dict[int, set[int]] = {}
    for i in range(len(spec.steps) - 1, -1, -1):
        sets = [set() if t == END else must[index[t]] for t in successors(spec, i)]
        must[i] = {i} | (set.intersection(*sets) if sets else set())
    return must[0] if spec.steps else set()


def money(value: float) -> str:
    """A likely figure: `~$0.0123`."""
    return "~" + usd(value)


def as_json(e: Estimate) -> dict[str, Any]:
    """The estimate as plain data (`baton estimate --json`)."""
    return {
        "workflow": e.workflow,
        "path": e.path,
        "runs": e.runs,
        "total_usd": list(e.total) if e.total is not None else None,
        "likely_usd": list(e.likely) if e.likely is not None else None,
        "paths": [
            {"steps": p.steps, "likely_usd": p.likely_usd, "usd": list(p.usd) if p.usd is not None else None}
            for p in e.paths
        ],
        "models": e.models,
        "steps": [
            {
                "step": r.path,
                "kind": r.kind,
                "model": r.models,
                "calls": list(r.calls),
                "prompt_tokens": list(r.prompt_tokens),
                "output_tokens": list(r.output_tokens),
                "usd": list(r.usd) if r.usd is not None else None,
                "likely_usd": r.likely_usd,
                "likely_tokens": list(r.likely_tokens) if r.likely_tokens is not None else None,
                "conditional": r.conditional,
                "notes": r.notes,
            }
            for r in e.steps
        ],
        "unpriced": e.unpriced,
    }
