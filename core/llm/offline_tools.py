"""How the offline model calls tools: as its script says, or deterministically from the conversation.

Unscripted, a request that offers tools is answered the way a careful model would: after the person's
message, it calls each offered tool the message names (all at once, or one per turn when parallel calls
are off), with arguments made up from the tool's JSON schema — every required property, strings taken from
the message, the first value of an enum, the minimum of a number. Once the results are in the conversation
it answers with a short report quoting the first line of each. `tool_choice` is honoured: `none` calls
nothing, `required` calls the first tool when the message names none, a named tool is the one called.
Each tool is called at most once per message, so a loop always ends.

Call ids are a hash of the conversation and the call's place in the answer, so replaying a session (or
resuming it) gives the same ids. The calls stream as real providers send them: the id and name first,
then the arguments' JSON text in several pieces.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from baton.core.llm.types import ModelToolCall

ARGUMENT_PIECE_CHARS = 8
"""Arguments stream in pieces of this many characters (so every call takes several chunks)."""
_MAX_DEPTH = 8
_PATH_RE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.[A-Za-z0-9]{1,6})(?![\w/])")
_URL_RE = re.compile(r"https?://[^\s)\"'>]+")
_QUOTE_CHARS = 160
_CLAUSE_SPLIT = re.compile(r"[:;!?]\s+|\.\s+|,\s+|[:;.!?]+$")
_ABOUT_RE = re.compile(r"\b(?:about|on|regarding|for)\s+(.{3,})$", re.IGNORECASE)
_IMPERATIVES = frozenset(
    """research find search look tell write summarise summarize explain describe list check get read give show
    compare investigate study review please use call""".split()  # noqa: SIM905 - a word list reads better as text
)
_FORMATS = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "person@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


@dataclass(frozen=True)
class Loop:
    """Where a conversation stands in a tool loop: what happened since the person's last message."""

    user: str
    """The last user message."""
    turn: int
    """The model turn about to be taken: 1 + the assistant messages since the last user message."""
    called: tuple[str, ...]
    """Tools called since the last user message, in order."""
    results: tuple[tuple[str, str], ...]
    """(tool name, result text) of every tool message since the last user message."""


def loop_of(messages: Sequence[Mapping[str, Any]]) -> Loop:
    """Read the tool loop a conversation is in."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    user = content_text(messages[last_user].get("content")) if last_user >= 0 else ""
    names: dict[str, str] = {}
    called: list[str] = []
    results: list[tuple[str, str]] = []
    turn = 1
    for message in messages[last_user + 1 :]:
        role = message.get("role")
        if role == "assistant":
            turn += 1
            for call in message.get("tool_calls") or ():
                if not isinstance(call, Mapping):
                    continue
                function = call.get("function") or {}
                name = str(function.get("name", ""))
                names[str(call.get("id", ""))] = name
                called.append(name)
        elif role == "tool":
            name = str(message.get("name") or names.get(str(message.get("tool_call_id", "")), "tool"))
            results.append((name, content_text(message.get("content"))))
    return Loop(user, turn, tuple(called), tuple(results))


def content_text(content: Any) -> str:
    """A message's content as text (a string, or the text parts of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def call_id(messages: Sequence[Mapping[str, Any]], position: int) -> str:
    """`call_` and 12 hex digits from the conversation and the call's place in the answer."""
    blob = json.dumps(list(messages), sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{blob}\x00{position}".encode()).hexdigest()
    return f"call_{digest[:12]}"


# --- scripted calls --------------------------------------------------------------------------------


def scripted_calls(entries: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]]) -> list[ModelToolCall]:
    """A script's `tool_calls: [{name, args}]` (or raw `arguments` text; an `id` of its own) as calls."""
    calls = []
    for position, entry in enumerate(entries):
        if "arguments" in entry and entry["arguments"] is not None:
            arguments = str(entry["arguments"])
        else:
            arguments = compact(entry.get("args") or {})
        given = entry.get("id")
        calls.append(ModelToolCall(str(given) if given else call_id(messages, position), str(entry["name"]), arguments))
    return calls


# --- deterministic calls ---------------------------------------------------------------------------


def planned_calls(
    tools: Sequence[Mapping[str, Any]],
    messages: Sequence[Mapping[str, Any]],
    loop: Loop,
    phrase: str,
    tool_choice: Any = None,
    parallel: bool | None = None,
) -> list[ModelToolCall]:
    """The calls the offline model makes on this turn (none: it answers instead)."""
    offered = {name: tool for tool in tools if (name := tool_name(tool))}
    chosen = [name for name in _wanted(offered, loop, tool_choice) if name not in loop.called]
    if parallel is False:
        chosen = chosen[:1]
    phrase = argument_phrase(loop.user, list(offered)) or phrase
    return [
        ModelToolCall(call_id(messages, i), name, compact(arguments_for(parameters(offered[name]), loop.user, phrase)))
        for i, name in enumerate(chosen)
        if name in offered
    ]


def _wanted(offered: Mapping[str, Mapping[str, Any]], loop: Loop, tool_choice: Any) -> list[str]:
    if tool_choice == "none" or not offered:
        return []
    forced = _forced_name(tool_choice)
    if forced:
        return [forced]
    named = named_tools(list(offered), loop.user)
    if not named and tool_choice == "required" and not loop.called:
        return [next(iter(offered))]
    return named


def _forced_name(tool_choice: Any) -> str:
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        if isinstance(function, Mapping) and function.get("name"):
            return str(function["name"])
    return ""


def named_tools(names: Sequence[str], text: str) -> list[str]:
    """The tools a message names, in the order it first names them."""
    found = []
    for order, name in enumerate(names):
        match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE)
        if match:
            found.append((match.start(), order, name))
    return [name for _, _, name in sorted(found)]


def argument_phrase(text: str, tool_names: Sequence[str]) -> str:
    """What a message asks about, in a few words, for a tool's text arguments: the first clause of its
    first line that names no file, preferring one that names no tool, without tool names or a leading
    instruction ("Research heat pumps in cold climates: use search" → "heat pumps in cold climates").
    Empty when no clause fits."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    clauses = [c for c in _CLAUSE_SPLIT.split(first) if c.strip() and not _PATH_RE.search(c)]
    ranked = sorted(clauses, key=lambda c: bool(named_tools(tool_names, c)))
    for clause in ranked:
        for name in tool_names:
            clause = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", " ", clause, flags=re.IGNORECASE)
        about = _ABOUT_RE.search(clause.strip())
        words = (about.group(1) if about else clause).split()
        while words and words[0].lower() in _IMPERATIVES:
            words = words[1:]
        if words:
            return " ".join(words[:6])
    return ""


def tool_name(tool: Mapping[str, Any]) -> str:
    """A tool's name, in OpenAI's function-tool shape."""
    function = tool.get("function")
    return str(function.get("name", "")) if isinstance(function, Mapping) else ""


def parameters(tool: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A tool's JSON schema for its arguments."""
    function = tool.get("function") if tool else None
    schema = function.get("parameters") if isinstance(function, Mapping) else None
    return schema if isinstance(schema, Mapping) else {"type": "object", "properties": {}}


def arguments_for(schema: Mapping[str, Any], prompt: str, phrase: str) -> Any:
    """Arguments that satisfy `schema`, the same every time for the same prompt."""
    return _value(schema, schema, "", prompt, phrase, 0)


def _value(schema: Mapping[str, Any], root: Mapping[str, Any], name: str, prompt: str, phrase: str, depth: int) -> Any:
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or () if isinstance(o, Mapping)]
        if options:
            usable = [o for o in options if _resolve(o, root).get("type") != "null"] or options
            return _value(usable[0], root, name, prompt, phrase, depth + 1)
    if schema.get("allOf"):
        return _value(_merged(schema, root), root, name, prompt, phrase, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required") or () if r in props]
        return {key: _value(props[key], root, key, prompt, phrase, depth + 1) for key in required}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        count = max(1, int(schema.get("minItems", 1) or 1))
        return [_value(items or {}, root, name, prompt, phrase, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, name, prompt, phrase)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local `$ref`s (`#/$defs/Name`), as pydantic writes nested models."""
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
        target: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _merged(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or ():
        part = _resolve(part, root) if isinstance(part, Mapping) else {}
        for key, value in part.items():
            if key == "properties":
                out["properties"] = {**out.get("properties", {}), **value}
            elif key == "required":
                out["required"] = [*out.get("required", []), *value]
            else:
                out.setdefault(key, value)
    return out


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum")
    exclusive = schema.get("exclusiveMinimum")
    if exclusive is True and isinstance(low, int | float):
        exclusive = low  # draft 4: a flag on `minimum`
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        low = exclusive + 1 if integer else exclusive + 0.5
    value: float = float(low) if isinstance(low, int | float) else 1.0
    high = schema.get("maximum")
    if isinstance(high, int | float) and value > high:
        value = float(high)
    return int(value) if integer else value


def _string(schema: Mapping[str, Any], name: str, prompt: str, phrase: str) -> str:
    fmt = str(schema.get("format", ""))
    lowered = name.lower()
    if fmt in _FORMATS:
        text = _FORMATS[fmt]
    elif fmt in ("uri", "url") or lowered in ("url", "uri", "link"):
        found = _URL_RE.search(prompt)
        text = found.group(0) if found else "https://example.com/" + re.sub(r"\W+", "-", phrase.lower()).strip("-")
    elif any(word in lowered for word in ("path", "file")):
        found = _PATH_RE.search(prompt)
        text = found.group(1) if found else re.sub(r"\W+", "_", phrase.lower()).strip("_") + ".txt"
    else:
        text = phrase
    low = int(schema.get("minLength", 0) or 0)
    if len(text) < low:
        text = (text + " " + phrase * low)[:low] if phrase else "x" * low
    high = schema.get("maxLength")
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def compact(value: Any) -> str:
    """JSON text the way models write arguments."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- the answer after the results ------------------------------------------------------------------


def report(loop: Loop, phrase: str) -> str:
    """The answer once tool results are in: a short report quoting the first line of each result."""
    count = len(loop.results)
    lines = [f"## Report: {phrase}\n\n", f"From {count} tool result{'s' if count != 1 else ''}:\n\n"]
    for name, result in loop.results:
        first = next((line.strip() for line in result.splitlines() if line.strip()), "(no output)")
        if len(first) > _QUOTE_CHARS:
            first = first[: _QUOTE_CHARS - 1] + "…"
        lines.append(f"- {name}: {first}\n")
    return "".join(lines)


# --- streaming -------------------------------------------------------------------------------------


def call_deltas(calls: Sequence[ModelToolCall]) -> list[dict[str, Any]]:
    """The calls as a provider streams them: per call, the id and name with the first piece of the
    arguments, then the rest in pieces (OpenAI's `delta.tool_calls[]` entries)."""
    out: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        pieces = argument_pieces(call.arguments)
        for n, piece in enumerate(pieces):
            first = n == 0
            out.append(
                {
                    "index": index,
                    "id": call.id if first else None,
                    "type": "function",
                    "function": {"name": call.name if first else None, "arguments": piece},
                }
            )
    return out


def argument_pieces(arguments: str, size: int = ARGUMENT_PIECE_CHARS) -> list[str]:
    """The arguments' text in pieces (one empty piece when there is no text: the call still streams)."""
    if not arguments:
        return [""]
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]
