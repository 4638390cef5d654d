"""Rich renderings of a session for the terminal: step lines, the steps table, the result, the cost summary.

Everything from a model, a tool or a file goes through `inert` and into `Text` — never markup.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from baton.core.economics import Summary, summarize, usd
from baton.core.result import RESULT_STATUSES, session_result, stored_spec, value_text
from baton.core.spec.model import WorkflowSpec
from baton.core.view import SessionView, StepView
from baton.tui.sanitize import inert, one_line

ICONS = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "awaiting": ("⏸", "yellow bold"),
    "completed": ("✓", "green"),
    "degraded": ("◐", "yellow"),
    "failed": ("✗", "red bold"),
    "skipped": ("↷", "dim"),
    "cancelled": ("■", "magenta"),
}


def ago(seconds: float) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago`."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{int(seconds)}s ago"
    if seconds < 5400:
        return f"{int(seconds / 60)}m ago"
    if seconds < 172800:
        return f"{int(seconds / 3600)}h ago"
    return f"{int(seconds / 86400)}d ago"


def duration(seconds: float | None) -> str:
    """`3.2s`, `4m05s`, `1h02m`."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def tokens(step: StepView) -> str:
    """`95→17` when any were used."""
    return f"{step.tokens_in}→{step.tokens_out}" if (step.tokens_in or step.tokens_out) else ""


def step_models(step: StepView, view: SessionView | None = None) -> str:
    """The models a step's calls ran on, in order (`strong→fast` after a retry on another model); without
    the session view, the model of its last call."""
    if view is not None:
        names = [view.calls[c].alias or view.calls[c].model for c in step.calls if c in view.calls]
        if names:
            return "→".join(dict.fromkeys(names))
    return step.model


def inherited(step: StepView, view: SessionView | None) -> bool:
    """A fork's step that ran in its parent: it is not run again here and costs this session nothing."""
    if view is None or not view.parent or not view.fork_step:
        return False
    if step.calls and all(c in view.calls and view.calls[c].inherited for c in step.calls):
        return True
    order = _top_order(view.workflow_text)
    top = step.path.split("/", 1)[0].split("[", 1)[0].split("#", 1)[0]
    return top in order and view.fork_step in order and order[top] < order[view.fork_step]


@lru_cache(maxsize=8)
def _top_order(workflow_text: str) -> dict[str, int]:
    spec = stored_spec(SessionView("", workflow_text=workflow_text))
    return {s.id: i for i, s in enumerate(spec.steps)} if spec is not None else {}


def concurrency_note(step: StepView) -> str:
    """`3 at a time`, or `8 at a time (capped by defaults.concurrency)` for a fan-out whose start said so."""
    if not step.concurrency:
        return ""
    capped = step.concurrency_capped_by
    return f"{step.concurrency} at a time" + (f" (capped by {capped})" if capped else "")


def step_cost(step: StepView, view: SessionView | None = None) -> str:
    """The step's cost as shown: `$0 inherited` for a fork's copied step, else its calls' cost."""
    if inherited(step, view):
        return "$0 inherited" if step.calls else ""
    return usd(step.cost_usd, step.cost_unknown) if (step.calls or step.cost_usd) else ""


def step_line(step: StepView, width: int = 28, view: SessionView | None = None) -> Text:
    """One line for a step: icon, path, model(s), tokens, cost, time, note. With the session `view`, the
    models of every call are named and a fork's copied steps show $0."""
    icon, style = ICONS.get(step.status, ("?", ""))
    line = Text()
    line.append(f"  {icon} ", style=style)
    line.append(one_line(step.path, width).ljust(width), style="bold" if step.status == "awaiting" else "")
    line.append(f" {inert(step_models(step, view)):8}", style="dim")
    line.append(f" {'' if inherited(step, view) else tokens(step):>11}", style="dim")
    line.append(f" {step_cost(step, view):>9}")
    line.append(f" {duration(step.latency_s) if step.ended_at else '':>6}", style="dim")
    fan_out = concurrency_note(step)
    if step.status == "skipped" and step.note:
        line.append(f"  {one_line(step.note, 60)}", style="dim")
    elif step.error:
        line.append(f"  {one_line(step.error, 70)}", style="red")
    elif step.note or fan_out:
        line.append(f"  {one_line(' · '.join(n for n in (step.note, fan_out) if n), 70)}", style="dim")
    return line


def steps_table(view: SessionView, full: bool = False) -> Table:
    """Every step with status, model(s), tokens, cost and time; `full` keeps notes and errors whole."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for name, justify in (
        ("", "left"),
        ("step", "left"),
        ("model", "left"),
        ("tokens", "right"),
        ("cost", "right"),
        ("time", "right"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold" if name == "note" else "ellipsis")  # type: ignore[arg-type]
    for step in view.steps.values():
        if not step.path:
            continue
        icon, style = ICONS.get(step.status, ("?", ""))
        note = step.error or step.note
        if len(step.timeline) > 1 and step.retries + step.attempts > 1:
            note = step.timeline_text + (f" · {note}" if note else "")
        fan_out = concurrency_note(step)
        if fan_out:
            note = f"{note} · {fan_out}" if note else fan_out
        table.add_row(
            Text(icon, style=style),
            Text(inert(step.path)),
            Text(inert(step_models(step, view)), style="dim"),
            Text("" if inherited(step, view) else tokens(step)),
            Text(step_cost(step, view)),
            Text(duration(step.latency_s)),
            Text(inert(note) if full else one_line(note, 120), style="red" if step.error else "dim"),
        )
    return table


def shown_value(value: Any) -> str:
    """A value for reading: text as it is, a list of texts as items, anything else as indented JSON."""
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return "\n\n".join("- " + item.strip("\n").replace("\n", "\n  ") for item in value)
    return value_text(value)


def result_block(view: SessionView, spec: WorkflowSpec | None = None) -> RenderableType | None:
    """The session's result in full (None until it has completed with one): each output under its name."""
    if view.status not in RESULT_STATUSES:
        return None
    result = session_result(view, spec if spec is not None else stored_spec(view))
    if not result:
        return None
    parts: list[RenderableType] = []
    for key, value in result.items():
        parts.append(Rule(Text(f"result · {inert(key)}", style="bold"), align="left", style="green"))
        parts.append(Text(inert(shown_value(value)).rstrip("\n")))
    parts.append(Rule(style="green"))
    return Group(*parts)


def summary(view: SessionView, runs: int = 1000, *, result: bool = True) -> RenderableType:
    """The end of a session: its result in full (when `result` and it has one), then the cost report:
    totals, per step and per model (each call on the model that made it), orchestration share, routing
    savings where a router chose between models, and a projection."""
    spec = stored_spec(view)
    s = summarize(view, time.time(), spec)
    parts: list[RenderableType] = []
    block = result_block(view, spec) if result else None
    if block is not None:
        parts.append(block)
    parts.append(_head(view, s))
    if view.reason and view.status in ("paused", "cancelled"):
        parts.append(Text(inert(view.reason), style="yellow"))
    if view.error:
        parts.append(Text(inert(view.error), style="red"))
    if s.steps and any(line.cost_usd or line.unknown or line.inherited for line in s.steps):
        parts.append(_by_step(s))
    if s.models:
        parts.append(_by_model(s))
    parts.append(_economics(view, s, runs))
    return Group(*parts)


def _head(view: SessionView, s: Summary) -> Text:
    head = Text()
    status_style = {"completed": "green", "degraded": "yellow", "failed": "red"}.get(view.status, "yellow")
    head.append(f"{view.status}", style=f"bold {status_style}")
    head.append(f" · {usd(s.total_usd, s.unknown_calls > 0)}")
    if s.unknown_calls:
        head.append(f" (+{s.unknown_calls} call{'s' if s.unknown_calls != 1 else ''} of unknown price)", style="yellow")
    head.append(f" · {s.tokens_in:,} in / {s.tokens_out:,} out tokens · {duration(s.wall_s)}")
    if s.retries:
        head.append(f" · {s.retries} retr{'ies' if s.retries != 1 else 'y'}")
    if view.inherited_usd:
        head.append(f" · {usd(view.inherited_usd)} inherited from {view.parent} (not paid again)", style="dim")
    if s.replayed_calls:
        head.append(f" · {s.replayed_calls} replayed at $0")
    return head


def _by_step(s: Summary) -> Table:
    """Cost per step (model-calling steps), orchestration steps marked; a step whose calls ran on several
    models gets one indented row per model."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("step", "model", "tokens in", "tokens out", "cost", "share", "time"):
        table.add_column(col, justify="left" if col in ("step", "model") else "right")
    for line in s.steps:
        if not (line.calls or line.cost_usd):
            continue
        share = f"{line.cost_usd / s.total_usd:.1%}" if s.total_usd > 0 and not line.inherited else ""
        if line.inherited:
            share = "inherited"
        elif line.replayed and line.replayed == line.calls:
            share = "replayed"
        table.add_row(
            Text(inert(line.name) + (" ⚙" if line.orchestration else "")),
            Text(inert(line.model), style="dim"),
            f"{line.tokens_in:,}",
            f"{line.tokens_out:,}",
            "$0" if line.inherited else usd(line.cost_usd, line.unknown),
            share,
            duration(line.seconds),
        )
        for part in line.parts:
            table.add_row(
                Text(""),
                Text(f"↳ {inert(part.name)}", style="dim"),
                Text(f"{part.tokens_in:,}", style="dim"),
                Text(f"{part.tokens_out:,}", style="dim"),
                Text(usd(part.cost_usd, part.unknown), style="dim"),
                Text(f"{part.calls} call{'s' if part.calls != 1 else ''}", style="dim"),
                "",
            )
    return table


def _by_model(s: Summary) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("model", "calls", "tokens in", "tokens out", "cost"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for line in s.models:
        calls = str(line.calls) + (f" ({line.replayed} replayed at $0)" if line.replayed else "")
        table.add_row(
            inert(line.name),
            calls,
            f"{line.tokens_in:,}",
            f"{line.tokens_out:,}",
            usd(line.cost_usd if not line.unknown or line.cost_usd else None, line.unknown),
        )
    return table


def _economics(view: SessionView, s: Summary, runs: int) -> Text:
    text = Text()
    share = s.orchestration_cost_share
    tshare = s.orchestration_time_share
    if share is not None:
        names = ", ".join(inert(n) for n in s.orchestration_steps)
        text.append(f"orchestration (⚙ {names}): " if names else "orchestration: ")
        text.append(f"{share:.1%} of cost")
        if tshare is not None:
            text.append(f", {tshare:.1%} of step time")
        text.append("\n")
    saving = s.routing_savings_usd
    if saving is not None and s.routed_strong_usd is not None:
        verb = "saved" if saving >= 0 else "cost"
        text.append(
            f"routing {verb} ~{usd(abs(saving))} ({abs(s.routing_savings_share or 0):.0%}) vs. the routed steps "
            f"({', '.join(inert(r) for r in s.routed)}) on {inert(s.strong_model)} ({usd(s.routed_strong_usd)}) "
            "— an estimate: same measured tokens at the strong model's prices\n",
            style="dim",
        )
    text.append(_projection(view, s, runs), style="dim")
    return text


def _projection(view: SessionView, s: Summary, runs: int) -> str:
    """`at 1,000 runs: ~$X`, saying what it is based on whenever that is not simply this run's cost."""
    unknown = s.unknown_calls > 0 or s.replayed_unpriced
    line = f"at {runs:,} runs: ~{usd(s.projection(runs), unknown)}"
    if s.partial_run:
        paid = [f"{usd(s.total_usd)} paid here"]
        if s.inherited_usd:
            paid.append(f"{usd(s.inherited_usd)} inherited from {view.parent}")
        if s.replayed_usd:
            paid.append(f"{usd(s.replayed_usd)} replayed at $0 here")
        line += f" — from a full run's {usd(s.full_run_usd, unknown)} ({' + '.join(paid)})"
    if not s.finished:
        line += f" — from this run so far (it is {view.status})"
    return line
