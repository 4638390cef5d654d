"""A tool-call checkpoint as a person sees and answers it, the same in the Review screen, line mode and
`baton decide`: the tool and where it comes from, why the policy asked, the arguments pretty-printed,
the tool's annotations, the turn and the forecast of the next model turn; the arguments edited as one
JSON object; an always-for-this-session grant scoped, if wanted, by `argument=glob` pairs.

Everything in a checkpoint's context came from a model, a tool or a server: it is made inert here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from baton.core.economics import usd
from baton.core.view import CheckpointView
from baton.tui.sanitize import inert, one_line
from baton.tui.transcript import arguments_text, where
from baton.tui.values import ValueField, ValueInvalid

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,40}$")


def is_tool_call(cp: CheckpointView) -> bool:
    """A checkpoint before an agent's tool call runs."""
    return cp.reason == "tool_call"


def header_lines(cp: CheckpointView) -> list[str]:
    """What is called, from where, why the policy asked, at which turn, and what the next turn may cost."""
    ctx = cp.context
    turn = ctx.get("turn")
    round_ = f" · round {cp.round}" if cp.round > 1 else ""
    out = [f"tool call · {inert(cp.step)}" + (f" · turn {turn}" if turn else "") + round_]
    tool = one_line(ctx.get("tool") or "?", 60)
    out.append(f"tool      {tool} — {where(str(ctx.get('source') or ''), str(ctx.get('origin') or ''))}")
    if ctx.get("why"):
        out.append(f"why       {one_line(ctx['why'], 160)}")
    if "side_effects" in ctx:
        out.append("effects   " + ("side effects (it changes something)" if ctx["side_effects"] else "read-only"))
    forecast = ctx.get("forecast_next")
    if isinstance(forecast, list) and len(forecast) == 2:
        out.append(f"next turn forecast {usd(forecast[0])}–{usd(forecast[1])}")
    elif "forecast_next" in ctx:
        out.append("next turn forecast: price unknown")
    return out


@dataclass(frozen=True)
class Block:
    """A titled block of a tool-call checkpoint (inert text)."""

    title: str
    text: str


def blocks(cp: CheckpointView) -> list[Block]:
    """The arguments pretty-printed, then the tool's annotations."""
    ctx = cp.context
    args = ctx.get("args")
    out = [Block("arguments", arguments_text(args if isinstance(args, dict) else {}))]
    notes = ctx.get("annotations")
    if isinstance(notes, Mapping) and notes:
        out.append(Block("annotations", "\n".join(f"{one_line(k, 40)}: {value_line(v)}" for k, v in notes.items())))
    else:
        out.append(Block("annotations", "(none)"))
    return out


def value_line(value: Any) -> str:
    """An annotation's value on one line (inert)."""
    return one_line(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str), 120)


# --- editing the arguments -------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonObjectField(ValueField):
    """A JSON object edited as text: a call's arguments, or the answer to a server's question (the runner
    checks it against `against`)."""

    against: str = "the tool's schema"

    @property
    def text(self) -> str:
        return json.dumps(self.value if self.value is not None else {}, ensure_ascii=False, indent=2, default=str)

    @property
    def label(self) -> str:
        return f"{self.key} (JSON)"

    @property
    def hint(self) -> str:
        return f"  — a JSON object, checked against {self.against} when sent"

    @property
    def language(self) -> str | None:
        return "json"

    def parse(self, text: str) -> Any:
        return parse_object(text, self.key)


def parse_object(text: str, key: str = "arguments") -> dict[str, Any]:
    """A JSON object from text, or `ValueInvalid` saying where it does not parse."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueInvalid(f"{key}: line {exc.lineno}, column {exc.colno}: {exc.msg} (JSON)") from None
    if not isinstance(value, dict):
        raise ValueInvalid(f"{key}: a JSON object ({{...}}) is needed, not {type(value).__name__}")
    return value


def arguments_field(cp: CheckpointView) -> JsonObjectField:
    """The one field an edit at a tool call changes (at a server's question: the answer)."""
    if cp.reason == "elicitation":
        return JsonObjectField("answer", {}, False, "the schema the server asked with")
    args = cp.context.get("args")
    return JsonObjectField("arguments", dict(args) if isinstance(args, dict) else {}, False)


def question_blocks(cp: CheckpointView) -> list[Block]:
    """A server's question in the middle of a call, and the shape of the answer it wants."""
    ctx = cp.context
    schema = ctx.get("schema")
    out = [Block("question", inert(str(ctx.get("question") or cp.message)))]
    if isinstance(schema, dict) and schema:
        out.append(Block("answer as", inert(json.dumps(schema, ensure_ascii=False, indent=2, default=str))))
    return out


# --- always for this session -----------------------------------------------------------------------


def pattern_arguments(cp: CheckpointView) -> list[tuple[str, str]]:
    """(argument, its value now) for the text arguments a grant can be scoped by."""
    args = cp.context.get("args")
    if not isinstance(args, dict):
        return []
    return [(str(k), v) for k, v in args.items() if isinstance(v, str)]


def form_name(argument: str, index: int) -> str:
    """A form field's name for an argument (its own name when it is safe as a widget id)."""
    return argument if _NAME.match(argument) else f"arg{index}"


def parse_pattern(pairs: Iterable[str]) -> dict[str, str]:
    """`path=reports/*` pairs (each may hold several, comma-separated) → `{argument: glob}`; `ValueError`
    names a pair that is not one."""
    out: dict[str, str] = {}
    for chunk in pairs:
        for pair in (p.strip() for p in chunk.split(",")):
            if not pair:
                continue
            name, sep, glob = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"a grant pattern is 'argument=glob', not '{pair}'")
            out[name.strip()] = glob.strip()
    return out


def pattern_text(pattern: Mapping[str, str]) -> str:
    """`path=reports/*, mode=w` (inert)."""
    return ", ".join(f"{one_line(k, 40)}={one_line(v, 60)}" for k, v in pattern.items())
