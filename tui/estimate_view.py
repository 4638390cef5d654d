"""The estimate on a terminal: a likely figure first, the range beside it, model names in full."""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from baton.core.economics import usd
from baton.tui.estimate import TYPICAL_ANSWER_TOKENS, Estimate, PathEstimate, Span, money
from baton.tui.sanitize import inert


def _tokens(span: tuple[int, int | None], likely: int | None) -> str:
    low, high = span
    shown = f"{low:,}–?" if high is None else (f"{low:,}" if low == high else f"{low:,}–{high:,}")
    if likely is None or (high is not None and low == high):
        return shown
    return f"~{likely:,} ({shown})"


def _range(span: Span | None, scale: int = 1) -> str:
    if span is None:
        return "unknown price"
    low, high = span[0] * scale, (None if span[1] is None else span[1] * scale)
    if high is None:
        return f"≥{usd(low)}" if low else "$0 or more"
    return usd(low) if math.isclose(low, high) else f"{usd(low)}–{usd(high)}"


def _route_name(path: PathEstimate, common: set[str]) -> str:
    own = [step for step in path.steps if step not in common]
    return "via " + " → ".join(inert(s) for s in own) if own else ""


def _by_route(e: Estimate, scale: int = 1) -> tuple[str, str]:
    """The likely figure and the range per run, each `… via route` when routes differ in cost (the
    cheapest and the dearest route); the range of the whole workflow when a route cannot be priced."""
    if not e.paths:
        return "unknown", _range(e.total, scale)
    common = set.intersection(*(set(p.steps) for p in e.paths))
    if len(e.paths) == 1:
        only = e.paths[0]
        likely = money(only.likely_usd * scale) if only.likely_usd is not None else "unknown"
        return likely, _range(only.usd, scale)
    priced = [p for p in e.paths if p.likely_usd is not None and p.usd is not None]
    if len(priced) < len(e.paths):
        return "unknown on some routes", _range(e.total, scale)
    cheap = min(priced, key=lambda p: p.likely_usd or 0.0)
    dear = max(priced, key=lambda p: p.likely_usd or 0.0)
    shown = [cheap] if cheap is dear else [cheap, dear]
    likely = " · ".join(f"{money((p.likely_usd or 0.0) * scale)} {_route_name(p, common)}".rstrip() for p in shown)
    ranged = " · ".join(f"{_range(p.usd, scale)} {_route_name(p, common)}".rstrip() for p in shown)
    return likely, ranged


def render(e: Estimate) -> RenderableType:
    """The estimate as a table, the likely cost per run (per route) and the range."""
    head = Text()
    head.append(f"estimate for '{inert(e.workflow)}'", style="bold")
    head.append(f" ({inert(e.path)}) — before running; retries and fallbacks not included", style="dim")
    widest = max((len(row.models) for row in e.steps), default=5)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("step", no_wrap=True)
    table.add_column("model", no_wrap=True, min_width=max(5, widest))
    for col in ("calls", "tokens", "likely", "range"):
        table.add_column(col, justify="right", no_wrap=True)
    notes = Text()
    for row in e.steps:
        calls = f"{row.calls[0]}" if row.calls[0] == row.calls[1] else f"{row.calls[0]}–{row.calls[1]}"
        said = (["on some routes"] if row.conditional else []) + row.notes
        if said:
            notes.append(f"\n  {inert(row.path)}: {'; '.join(said)}", style="dim")
        if not row.calls[1]:
            table.add_row(inert(row.path), "", "0", "", "$0", "$0")
            continue
        tokens = f"~{row.likely_tokens[0]:,}→{row.likely_tokens[1]:,}" if row.likely_tokens is not None else "?"
        table.add_row(
            inert(row.path),
            Text(inert(row.models), style="dim"),
            calls,
            tokens,
            money(row.likely_usd) if row.likely_usd is not None else "?",
            _range(row.usd),
        )
    likely, ranged = _by_route(e)
    likely_n, ranged_n = _by_route(e, e.runs)
    foot = Text()
    if notes:
        foot.append("notes:", style="dim")
        foot.append_text(notes)
        foot.append("\n")
    foot.append("likely per run: ", style="bold")
    foot.append(likely)
    foot.append("\nrange per run: ", style="bold")
    foot.append(ranged)
    foot.append(f"\nat {e.runs:,} runs: ", style="bold")
    foot.append(f"likely {likely_n}; range {ranged_n}")
    if e.models:
        named = " · ".join(f"{inert(alias)} = {inert(model)}" for alias, model in e.models.items())
        foot.append(f"\nmodels: {named}", style="dim")
    foot.append(
        "\ntokens: likely prompt→output; likely output: the offline model's configured lengths, structured "
        f"replies sized from their fields, other models ~{TYPICAL_ANSWER_TOKENS} tokens an answer (at most "
        "max_tokens); range: short answers … every call at its max_tokens",
        style="dim",
    )
    if e.unpriced:
        foot.append(f"\nno price known for {', '.join(inert(m) for m in e.unpriced)}", style="yellow")
    return Group(head, table, foot)
