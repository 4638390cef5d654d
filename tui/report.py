"""Rich renderings of a session for the terminal: step lines, the steps table, the cost summary.

Everything from a model, a tool or a file goes through `inert` and into `Text` — never markup.
"""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from baton.core.economics import Summary, summarize, usd
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


def step_line(step: StepView, width: int = 28) -> Text:
    """One line for a step: icon, path, model, tokens, cost, time, note."""
    icon, style = ICONS.get(step.status, ("?", ""))
    line = Text()
    line.append(f"  {icon} ", style=style)
    line.append(one_line(step.path, width).ljust(width), style="bold" if step.status == "awaiting" else "")
    line.append(f" {one_line(step.model, 8):8}", style="dim")
    line.append(f" {tokens(step):>11}", style="dim")
    cost = usd(step.cost_usd, step.cost_unknown) if (step.calls or step.cost_usd) else ""
    line.append(f" {cost:>9}")
    line.append(f" {duration(step.latency_s) if step.ended_at else '':>6}", style="dim")
    if step.status == "skipped" and step.note:
        line.append(f"  {one_line(step.note, 60)}", style="dim")
    elif step.error:
        line.append(f"  {one_line(step.error, 70)}", style="red")
    elif step.note:
        line.append(f"  {one_line(step.note, 50)}", style="dim")
    return line


def steps_table(view: SessionView) -> Table:
    """Every step with status, model, tokens, cost and time."""
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
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for step in view.steps.values():
        if not step.path:
            continue
        icon, style = ICONS.get(step.status, ("?", ""))
        cost = usd(step.cost_usd, step.cost_unknown) if (step.calls or step.cost_usd) else ""
        note = step.error or step.note
        if len(step.timeline) > 1 and step.retries + step.attempts > 1:
            note = step.timeline_text + (f" · {note}" if note else "")
        table.add_row(
            Text(icon, style=style),
            Text(inert(step.path)),
            Text(inert(step.model), style="dim"),
            Text(tokens(step)),
            Text(cost),
            Text(duration(step.latency_s)),
            Text(one_line(note, 120), style="red" if step.error else "dim"),
        )
    return table


def summary(view: SessionView, runs: int = 1000) -> RenderableType:
    """The cost report: totals, per model, orchestration share, routing savings, projection."""
    s = summarize(view, time.time())
    parts: list[RenderableType] = []
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
    parts.append(head)
    if view.reason and view.status in ("paused", "cancelled"):
        parts.append(Text(inert(view.reason), style="yellow"))
    if view.error:
        parts.append(Text(inert(view.error), style="red"))
    if s.steps and any(line.cost_usd or line.unknown for line in s.steps):
        parts.append(_by_step(s))
    if s.models:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("model", "calls", "tokens in", "tokens out", "cost"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for line in s.models:
            table.add_row(
                inert(line.name),
                str(line.calls),
                f"{line.tokens_in:,}",
                f"{line.tokens_out:,}",
                usd(line.cost_usd if not line.unknown or line.cost_usd else None, line.unknown),
            )
        parts.append(table)
    parts.append(_economics(s, runs))
    return Group(*parts)


def _by_step(s: Summary) -> Table:
    """Cost per step (model-calling steps), orchestration steps marked."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("step", "model", "tokens in", "tokens out", "cost", "share", "time"):
        table.add_column(col, justify="left" if col in ("step", "model") else "right")
    for line in s.steps:
        if not (line.calls or line.cost_usd):
            continue
        share = f"{line.cost_usd / s.total_usd:.1%}" if s.total_usd > 0 else ""
        table.add_row(
            Text(inert(line.name) + (" ⚙" if line.orchestration else "")),
            Text(inert(line.model), style="dim"),
            f"{line.tokens_in:,}",
            f"{line.tokens_out:,}",
            usd(line.cost_usd, line.unknown),
            share,
            duration(line.seconds),
        )
    return table


def _economics(s: Summary, runs: int) -> Text:
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
    text.append(f"at {runs:,} runs: ~{usd(s.projection(runs))}", style="dim")
    return text
