"""`baton estimate FLOW`: a per-step and total cost range before anything runs.

Each model call is priced like the runner's pre-call forecast: the prompt it would send counted with
litellm's token counter × the input price, plus 0 … its max output tokens × the output price. What a step
reads from earlier steps is not known yet: the low end counts it as empty, the high end as large as those
steps may write (their max output tokens). Routes give the total's range (the cheapest and the dearest
path); maps repeat per item, loops 1 … max_iterations. Retries and fallbacks are not included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from baton.core.economics import usd
from baton.core.jsonout import dumps
from baton.core.llm.types import LLMClient
from baton.core.runner.engine import initial_state
from baton.core.runner.forecast import CallShape, Pass, one_pass, request, user_message
from baton.core.spec.graph import successors, top_index
from baton.core.spec.load import Workflow
from baton.core.spec.model import END, ModelSpec, Step, ToolStep, WorkflowSpec
from baton.core.state import size_chars
from baton.tui.sanitize import inert

# Tokens a read adds around its value in a prompt (a `### key` heading, list bullets) beyond the value.
READ_OVERHEAD = 8
PER_WRITE_OVERHEAD = 4
Span = tuple[float, float | None]
"""A low and a high figure; the high one is unknown (None) when it cannot be bounded."""


@dataclass
class StepEstimate:
    """One top-level step: its calls, tokens and cost range (high None = not bounded before running)."""

    path: str
    kind: str
    models: str
    calls: tuple[int, int]
    prompt_tokens: tuple[int, int | None]
    output_tokens: tuple[int, int]
    usd: Span | None
    conditional: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Estimate:
    """A workflow's cost range per run, and at `runs` runs."""

    workflow: str
    path: str
    steps: list[StepEstimate]
    total: Span | None
    runs: int
    unpriced: list[str] = field(default_factory=list)


@dataclass
class _Acc:
    """Running totals while pricing one step."""

    calls: list[int] = field(default_factory=lambda: [0, 0])
    tokens_in: list[Any] = field(default_factory=lambda: [0, 0])
    tokens_out: list[int] = field(default_factory=lambda: [0, 0])
    cost: list[Any] = field(default_factory=lambda: [0.0, 0.0])
    unknown_price: bool = False
    models: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def scaled(self, lo: int, hi: int) -> _Acc:
        out = _Acc(unknown_price=self.unknown_price, models=list(self.models), notes=list(self.notes))
        out.calls = [self.calls[0] * lo, self.calls[1] * hi]
        out.tokens_in = [self.tokens_in[0] * lo, _mul(self.tokens_in[1], hi)]
        out.tokens_out = [self.tokens_out[0] * lo, self.tokens_out[1] * hi]
        out.cost = [self.cost[0] * lo, _mul(self.cost[1], hi)]
        return out

    def add(self, other: _Acc, optional: bool = False) -> None:
        self.calls[0] += 0 if optional else other.calls[0]
        self.calls[1] += other.calls[1]
        self.tokens_in[0] += 0 if optional else other.tokens_in[0]
        self.tokens_in[1] = _plus(self.tokens_in[1], other.tokens_in[1])
        self.tokens_out[0] += 0 if optional else other.tokens_out[0]
        self.tokens_out[1] += other.tokens_out[1]
        self.cost[0] += 0.0 if optional else other.cost[0]
        self.cost[1] = _plus(self.cost[1], other.cost[1])
        self.unknown_price = self.unknown_price or other.unknown_price
        self.models += [m for m in other.models if m not in self.models]
        self.notes += [n for n in other.notes if n not in self.notes]


def _plus(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a + b


def _mul(a: Any, n: int) -> Any:
    return None if a is None else a * n


class Estimator:
    """Prices a workflow's steps in order, tracking how large each state key may be by then."""

    def __init__(
        self, spec: WorkflowSpec, models: Mapping[str, ModelSpec], llm: LLMClient, inputs: Mapping[str, Any]
    ) -> None:
        self.spec = spec
        self.models = models
        self.llm = llm
        self.known: dict[str, Any] = initial_state(spec, inputs)
        # Keys written while the workflow runs: (low, high) tokens; high None = unbounded (a tool's output).
        self.sizes: dict[str, tuple[int, int | None]] = {}
        self.unpriced: set[str] = set()
        self.item_extra: int | None = 0

    def step(self, step: Step) -> _Acc:
        """Price one top-level step, then record what it may write."""
        acc = self._pass(one_pass(self.spec, step, step.id))
        if isinstance(step, ToolStep):
            for key in step.writes:
                self._write(key, 0, self.spec.state[key].max_chars if key in self.spec.state else None)
        return acc

    def _pass(self, p: Pass) -> _Acc:
        if p.per_item:
            return self._per_item(p)
        if p.repeat != (1, 1):
            return self._rounds(p)
        acc = _Acc()
        for call in p.shapes:
            acc.add(self._call(call), optional=call.optional)
        for child in p.children:
            acc.add(self._pass(child), optional=p.optional_children)
        if p.optional_children:
            acc.notes.append("the manager picks which workers run")
        return acc

    def _rounds(self, p: Pass) -> _Acc:
        """A loop: the first round is the low end; the high end prices every round in turn, so what a
        round writes (feedback, drafts, appended notes) is in the next round's prompt."""
        once = Pass(p.shapes, children=p.children, optional_children=p.optional_children)
        first = self._pass(once)
        acc = first.scaled(1, 1)
        for _ in range(p.repeat[1] - 1):
            later = self._pass(once)
            acc.calls[1] += later.calls[1]
            acc.tokens_in[1] = _plus(acc.tokens_in[1], later.tokens_in[1])
            acc.tokens_out[1] += later.tokens_out[1]
            acc.cost[1] = _plus(acc.cost[1], later.cost[1])
        acc.notes.append(f"{p.repeat[0]}–{p.repeat[1]} iterations")
        return acc

    def _per_item(self, p: Pass) -> _Acc:
        """A map: one item priced (with the item as large as the list may be), times the item count;
        what the items append is counted once per item."""
        value = self.known.get(p.over) if p.over not in self.sizes else None
        item: int | None
        if isinstance(value, list):
            count = (len(value), len(value))
            item = max((size_chars(v) for v in value), default=0)
        else:
            count = (0, p.repeat[1])
            item = self.sizes.get(p.over, (0, 0))[1]
        before = dict(self.sizes)
        self.item_extra = item
        try:
            one = _Acc()
            for child in p.children:
                one.add(self._pass(child))
        finally:
            self.item_extra = 0
        for key, (low, high) in list(self.sizes.items()):
            was = before.get(key)
            decl = self.spec.state.get(key)
            if was != (low, high) and decl is not None and decl.reducer == "append":
                base_lo, base_hi = was if was is not None else (0, 0)
                grown = None if high is None or base_hi is None else base_hi + (high - base_hi) * count[1]
                self.sizes[key] = (base_lo, grown)
        acc = one.scaled(*count)
        acc.notes.append(f"× {count[0]}" + (f"–{count[1]}" if count[1] != count[0] else "") + " items")
        return acc

    def _call(self, call: CallShape) -> _Acc:
        acc = _Acc(models=[call.alias])
        known = {k: v for k, v in self.known.items() if k not in self.sizes}
        req = request(self.spec, self.models, call, user_message(call, known))
        if req is None:
            acc.unknown_price = True
            return acc
        tokens, rng = self.llm.forecast(req)
        extra: int | None = self.item_extra
        if extra is None:
            acc.notes.append("each item's size is known only after running")
        for key in call.reads:
            if key in self.sizes:
                high = self.sizes[key][1]
                if high is None:
                    acc.notes.append(f"reads '{key}', whose size is known only after running")
                extra = None if extra is None or high is None else extra + high + READ_OVERHEAD
        max_out = req.max_tokens or self.spec.defaults.max_tokens
        acc.calls = [1, 1]
        acc.tokens_in = [tokens, None if extra is None else tokens + extra]
        acc.tokens_out = [0, max_out]
        price_in = self.llm.cost(req.model, 1, 0)
        if rng is None or price_in is None:
            acc.unknown_price = True
            self.unpriced.add(req.model)
            acc.cost = [0.0, None]
        else:
            acc.cost = [rng[0], None if extra is None else rng[1] + extra * price_in]
        for key in call.writes:
            self._write(key, 0, max_out + PER_WRITE_OVERHEAD)
        return acc

    def _write(self, key: str, low: int, high: int | None) -> None:
        reducer = self.spec.state[key].reducer if key in self.spec.state else "replace"
        before = self.sizes.get(key)
        if reducer == "append" and before is not None:
            self.sizes[key] = (before[0] + low, None if before[1] is None or high is None else before[1] + high)
        elif reducer == "append" and isinstance(self.known.get(key), list) and self.known[key]:
            self.sizes[key] = (low, None)
        else:
            self.sizes[key] = (low, high)


def estimate(
    workflow: Workflow,
    models: Mapping[str, ModelSpec],
    llm: LLMClient,
    inputs: Mapping[str, Any] | None = None,
    runs: int = 1000,
) -> Estimate:
    """The cost range of one run of `workflow` (and of `runs` runs), step by step."""
    spec = workflow.spec
    est = Estimator(spec, models, llm, inputs or {})
    accs = [est.step(step) for step in spec.steps]
    always = _on_every_path(spec)
    rows = []
    for i, (step, acc) in enumerate(zip(spec.steps, accs, strict=True)):
        priced: Span | None = None if acc.unknown_price else (acc.cost[0], acc.cost[1])
        rows.append(
            StepEstimate(
                step.id,
                step.kind,
                ", ".join(acc.models),
                (acc.calls[0], acc.calls[1]),
                (int(acc.tokens_in[0]), None if acc.tokens_in[1] is None else int(acc.tokens_in[1])),
                (acc.tokens_out[0], acc.tokens_out[1]),
                priced,
                conditional=i not in always,
                notes=acc.notes,
            )
        )
    return Estimate(spec.name, workflow.path, rows, _total(spec, rows), runs, sorted(est.unpriced))


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


def _on_every_path(spec: WorkflowSpec) -> set[int]:
    """Top-level steps that run whichever route is taken."""
    index = top_index(spec)
    must: dict[int, set[int]] = {}
    for i in range(len(spec.steps) - 1, -1, -1):
        sets = [set() if t == END else must[index[t]] for t in successors(spec, i)]
        must[i] = {i} | (set.intersection(*sets) if sets else set())
    return must[0] if spec.steps else set()


def _tokens(span: tuple[int, int | None]) -> str:
    low, high = span
    if high is None:
        return f"{low:,}–?"
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _money(span: Span | None, scale: int = 1) -> str:
    if span is None:
        return "unknown price"
    low, high = span[0] * scale, (None if span[1] is None else span[1] * scale)
    if high is None:
        return f"≥{usd(low)}"
    return usd(low) if math.isclose(low, high) else f"{usd(low)}–{usd(high)}"


def render(e: Estimate) -> RenderableType:
    """The estimate as a table and two totals."""
    head = Text()
    head.append(f"estimate for '{inert(e.workflow)}'", style="bold")
    head.append(f" ({inert(e.path)}) — before running; retries and fallbacks not included", style="dim")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("step", "model", "calls", "tokens in", "tokens out", "cost"):
        numeric = col in ("calls", "tokens in", "tokens out", "cost")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric or col == "step")
    table.add_column("note", overflow="fold", ratio=1)
    for row in e.steps:
        calls = f"{row.calls[0]}" if row.calls[0] == row.calls[1] else f"{row.calls[0]}–{row.calls[1]}"
        notes = (["on some routes"] if row.conditional else []) + row.notes
        table.add_row(
            inert(row.path),
            Text(inert(row.models), style="dim"),
            calls,
            _tokens(row.prompt_tokens),
            _tokens((row.output_tokens[0], row.output_tokens[1])),
            _money(row.usd) if row.calls[1] else "$0",
            Text("; ".join(notes), style="dim"),
        )
    foot = Text()
    foot.append("total per run: ", style="bold")
    foot.append(_money(e.total))
    foot.append(f"\nat {e.runs:,} runs: ", style="bold")
    foot.append(_money(e.total, e.runs))
    if e.unpriced:
        foot.append(f"\nno price known for {', '.join(inert(m) for m in e.unpriced)}", style="yellow")
    return Group(head, table, foot)


def as_json(e: Estimate) -> dict[str, Any]:
    """The estimate as plain data (`baton estimate --json`)."""
    return {
        "workflow": e.workflow,
        "path": e.path,
        "runs": e.runs,
        "total_usd": list(e.total) if e.total is not None else None,
        "steps": [
            {
                "step": r.path,
                "kind": r.kind,
                "model": r.models,
                "calls": list(r.calls),
                "prompt_tokens": list(r.prompt_tokens),
                "output_tokens": list(r.output_tokens),
                "usd": list(r.usd) if r.usd is not None else None,
                "conditional": r.conditional,
                "notes": r.notes,
            }
            for r in e.steps
        ],
        "unpriced": e.unpriced,
    }


def run_estimate(flow: str, inputs: list[str], runs: int, models: dict[str, str], json_out: bool) -> int:
    """`baton estimate`: print the estimate; returns the exit code (2 for a bad workflow or input)."""
    import asyncio

    import click
    from rich.console import Console

    from baton.core.config import resolve_models
    from baton.core.llm.gateway import LiteLLMGateway
    from baton.tui.launch import LaunchError, config_or_exit, load_flow, parse_inputs

    try:
        config = config_or_exit()
        workflow = load_flow(flow, config)
        values = parse_inputs(workflow, inputs)
    except LaunchError as exc:
        click.echo(str(exc), err=True)
        return exc.code
    llm = LiteLLMGateway()
    asyncio.run(llm.warm_up())
    result = estimate(workflow, resolve_models(workflow.spec, config, models), llm, values, runs)
    if json_out:
        click.echo(dumps(as_json(result)))
    else:
        Console(highlight=False).print(render(result))
    return 0
