"""The built-in offline model's behaviour, as pure functions (the litellm provider streams the plan).

Text is deterministic: a hash of the model, the seed and the prompt picks words, so the same request gives
the same reply, and different prompts differ. Structured requests (a JSON-schema `response_format`) get an
object that satisfies the schema. A request that offers tools gets tool calls (see `offline_tools`).
`replies` script exact answers (text, JSON, tool calls) by regex, by call number or by turn of a tool loop;
`faults` script failures by call number, so tests and demos can show retries, stalls and cut streams
without a network.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from baton.core.llm import offline_tools as tools_plan
from baton.core.llm.offline_routes import route_reply
from baton.core.llm.types import ModelToolCall

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "unavailable",
    "stall",
    "stall_first",
    "cut",
    "auth",
    "bad_request",
    "not_found",
    "context_window",
    "content_policy",
    "timeout",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

_SENTENCES = (
    "{T} is moving faster than most forecasts assumed, but the evidence is uneven.",
    "The strongest results on {t} come from small pilots with careful measurement.",
    "Costs fall when a cheap model handles routine cases and a strong model reasons about the hard ones.",
    "Several teams report that {t} works best with explicit constraints and a human review before release.",
    "Critics point out that benchmarks rarely match production workloads.",
    "Independent replication of vendor claims about {t} is still scarce.",
    "Hidden costs tend to appear in integration, data quality and operations.",
    "A staged rollout with clear ownership and monitoring reduces the risk.",
    "The open questions are durability, safety and long-term maintenance.",
    "For most readers the practical takeaway is to start small and measure everything.",
    "Three factors dominate: reliability, total cost and the time it takes to recover from failure.",
    "Early adopters of {t} describe steady gains rather than a single breakthrough.",
    "Regulation is lagging, which leaves room for both innovation and mistakes.",
    "The trade-off between latency and quality shows up in every deployment of {t}.",
    "Where the data is clean, results are consistent; where it is not, no model rescues them.",
)
_HEADINGS = ("Summary", "Key points", "Findings", "Overview", "Notes")
_TOPIC_RE = re.compile(r"\b(?:on|about|of|for|regarding)\s+([^.?!:\n{}]{3,60})", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")
_STOP = {"this", "that", "with", "from", "into", "about", "these", "those", "what", "which", "there", "their"}


@dataclass(frozen=True)
class Fault:
    """A scripted failure: `kind` from FAULT_KINDS; `after_chunks` for stalls and cuts."""

    kind: str
    after_chunks: int = 0
    retry_after: float | None = None
    stall_s: float = 3600.0
    message: str = ""


@dataclass(frozen=True)
class Plan:
    """What the offline model will stream for one call: text chunks, then tool calls."""

    chunks: list[str]
    prompt_tokens: int
    latency_s: float
    interval_s: float
    fault: Fault | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    tool_calls: tuple[ModelToolCall, ...] = ()

    def pieces(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Every chunk of the stream in order: (text, None) pieces, then ("", tool-call delta) pieces."""
        deltas = tools_plan.call_deltas(self.tool_calls)
        return [(chunk, None) for chunk in self.chunks] + [("", delta) for delta in deltas]

    @property
    def finish_reason(self) -> str:
        """`tool_calls` when the answer calls tools, else `stop`."""
        return "tool_calls" if self.tool_calls else "stop"


def plan(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    behaviour: Mapping[str, Any],
    call_index: int,
    prompt_tokens: int,
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: Any = None,
    parallel_tool_calls: bool | None = None,
) -> Plan:
    """Decide the reply to call number `call_index` (1-based, per model) of this process."""
    prompt = _prompt_text(messages)
    user = _prompt_text([m for m in messages if m.get("role") == "user"][-1:]) or prompt
    loop = tools_plan.loop_of(messages)
    fault = _fault(behaviour.get("faults") or [], call_index, prompt)
    rule = _scripted(behaviour.get("replies") or [], prompt, call_index, loop.turn)
    seed = f"{model}|{behaviour.get('seed', 0)}|{prompt}"
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    schema = _schema(response_format)
    calls: list[ModelToolCall] = []
    if rule is not None:
        chunks = split_chunks(_scripted_text(rule))
        calls = tools_plan.scripted_calls(rule.get("tool_calls") or [], messages)
    elif tools and (
        calls := tools_plan.planned_calls(tools, messages, loop, topic_phrase(user), tool_choice, parallel_tool_calls)
    ):
        chunks = []
    elif loop.results and schema is None:
        chunks = split_chunks(tools_plan.report(loop, topic_phrase(user)))
    elif schema is not None:
        labels = _route_labels(schema)
        if labels:
            system = _prompt_text([m for m in messages if m.get("role") == "system"])
            value: Any = route_reply(labels, system, user)
        else:
            value = structured(schema, rng, user)
        chunks = split_chunks(json.dumps(value, ensure_ascii=False), size=6)
    else:
        lo = int(behaviour.get("min_tokens", 40))
        hi = max(lo, int(behaviour.get("max_tokens", 120)))
        if max_tokens:
            hi = min(hi, max_tokens)
            lo = min(lo, hi)
        chunks = prose(user, rng, rng.randint(lo, hi))
    tps = float(behaviour.get("tokens_per_s", 0.0) or 0.0)
    return Plan(
        chunks=no_repeats(chunks),
        prompt_tokens=prompt_tokens,
        latency_s=float(behaviour.get("latency_s", 0.0) or 0.0),
        interval_s=(1.0 / tps) if tps > 0 else 0.0,
        fault=fault,
        tool_calls=tuple(calls),
    )


def _prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "\n".join(parts)


def _scripted(
    replies: Sequence[Mapping[str, Any]], prompt: str, call_index: int, turn: int
) -> Mapping[str, Any] | None:
    """The first reply whose `call`, `turn` and `match` fit, else None."""
    for rule in replies:
        nth = rule.get("call")
        if nth is not None and int(nth) != call_index:
            continue
        on_turn = rule.get("turn")
        if on_turn is not None and int(on_turn) != turn:
            continue
        pattern = rule.get("match")
        if pattern is not None and not re.search(str(pattern), prompt, re.DOTALL):
            continue
        return rule
    return None


def _scripted_text(rule: Mapping[str, Any]) -> str:
    """A scripted reply's text: its `json` value as JSON, its `text`, or nothing (tool calls alone)."""
    if "json" in rule:
        return json.dumps(rule["json"], ensure_ascii=False)
    return str(rule.get("text") or "")


def _fault(faults: Sequence[Mapping[str, Any]], call_index: int, prompt: str) -> Fault | None:
    for rule in faults:
        calls = rule.get("calls")
        on_call = rule.get("on_call")
        if on_call is not None and int(on_call) != call_index:
            continue
        if calls is not None and call_index not in [int(c) for c in calls]:
            continue
        pattern = rule.get("match")
        if pattern is not None and not re.search(str(pattern), prompt, re.DOTALL):
            continue
        kind = str(rule.get("error", rule.get("kind", "server_error")))
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown offline fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        return Fault(
            kind=kind,
            after_chunks=int(rule.get("after_chunks", 0)),
            retry_after=float(rule["retry_after"]) if rule.get("retry_after") is not None else None,
            stall_s=float(rule.get("stall_s", 3600.0)),
            message=str(rule.get("message", "")),
        )
    return None


def _route_labels(schema: Mapping[str, Any]) -> list[str]:
    """A router's reply schema (`route` among labels, and a `reason`) → its labels; else []."""
    props = schema.get("properties") if schema.get("type") == "object" else None
    if not isinstance(props, Mapping) or set(props) != {"route", "reason"}:
        return []
    labels = props["route"].get("enum") if isinstance(props["route"], Mapping) else None
    return [str(label) for label in labels] if isinstance(labels, list) and labels else []


def _schema(response_format: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema") or {}
        schema = inner.get("schema") if isinstance(inner, Mapping) else None
        return schema if isinstance(schema, Mapping) else {"type": "object"}
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return None


def structured(schema: Mapping[str, Any], rng: random.Random, prompt: str) -> Any:
    """A value satisfying `schema` (the subset baton generates), chosen deterministically by `rng`."""
    typ = schema.get("type")
    if "enum" in schema:
        options = list(schema["enum"])
        return rng.choice(options) if options else None
    if typ == "object":
        props = schema.get("properties") or {}
        return {name: _field_value(name, sub, rng, prompt) for name, sub in props.items()}
    if typ == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            values = list(items["enum"])
            count = rng.randint(1, max(1, len(values)))
            return sorted(rng.sample(values, count), key=values.index)
        return [structured(items, rng, prompt) for _ in range(rng.randint(1, 3))]
    if typ == "string":
        return "".join(prose(prompt, rng, rng.randint(8, 20), heading=False)).strip()
    if typ == "integer":
        return rng.randint(1, 10)
    if typ == "number":
        return round(rng.uniform(0.5, 1.0), 2)
    if typ == "boolean":
        return rng.random() < 0.65
    if typ == "null":
        return None
    # No type (`any`): any value will do, and text is what a model most often gives.
    return "".join(prose(prompt, rng, rng.randint(3, 8), heading=False)).strip()


def _field_value(name: str, schema: Mapping[str, Any], rng: random.Random, prompt: str) -> Any:
    if schema.get("type") == "number" and name in ("confidence", "score", "probability"):
        return round(rng.uniform(0.55, 0.99), 2)
    return structured(schema, rng, prompt)


def topic_phrase(prompt: str) -> str:
    """A short phrase naming what the prompt is about (for flavouring generated text)."""
    first = next((line for line in prompt.splitlines() if line.strip()), "")
    if ": " in first.rstrip(": "):
        tail = first.rstrip(": ").rsplit(": ", 1)[1].strip().rstrip(".?!")
        if len(tail.split()) >= 1:
            return " ".join(tail.split()[:5])
    match = _TOPIC_RE.search(first)
    if match:
        words = match.group(1).strip().split()[:5]
        return " ".join(words).rstrip(",;")
    words = [w.lower() for w in _WORD_RE.findall(first) if w.lower() not in _STOP]
    return " ".join(words[:3]) or "the topic"


def prose(prompt: str, rng: random.Random, tokens: int, heading: bool = True) -> list[str]:
    """About `tokens` chunks of plausible prose about the prompt's topic, one word per chunk."""
    topic = topic_phrase(prompt)
    text_parts: list[str] = []
    if heading:
        text_parts.append(f"## {rng.choice(_HEADINGS)}: {topic}\n\n")
    count = 0
    paragraph = 0
    order = list(_SENTENCES)
    rng.shuffle(order)
    i = 0
    while count < tokens:
        sentence = order[i % len(order)].format(t=topic, T=topic[:1].upper() + topic[1:])
        i += 1
        paragraph += 1
        end = "\n\n" if paragraph >= 3 and rng.random() < 0.5 else " "
        if end == "\n\n":
            paragraph = 0
        text_parts.append(sentence + end)
        count += len(sentence.split())
    return _trim(split_chunks("".join(text_parts).rstrip() + "\n"), max(tokens, 1))


def _trim(chunks: list[str], tokens: int) -> list[str]:
    """Cut to `tokens` chunks, ending on a sentence boundary when one is near."""
    if len(chunks) <= tokens:
        return chunks
    cut = chunks[:tokens]
    for back in range(len(cut) - 1, max(len(cut) - 25, 0), -1):
        if cut[back].rstrip().endswith("."):
            return cut[: back + 1]
    return cut


def no_repeats(chunks: list[str]) -> list[str]:
    """No two consecutive chunks are equal: each run of identical chunks becomes one chunk (a stream that
    repeats a chunk many times in a row looks like a looping model to litellm, which aborts it)."""
    out: list[str] = []
    last: str | None = None
    for chunk in chunks:
        if out and chunk == last:
            out[-1] += chunk
        else:
            out.append(chunk)
            last = chunk
    i = 1
    while i < len(out):
        if out[i] == out[i - 1]:
            out[i - 1] += out.pop(i)
            i = max(i - 1, 1)
        else:
            i += 1
    return out


def split_chunks(text: str, size: int = 0) -> list[str]:
    """Stream pieces of `text`: words with their whitespace, or fixed-size slices when `size` > 0."""
    if not text:
        return []
    if size > 0:
        return [text[i : i + size] for i in range(0, len(text), size)]
    return re.findall(r"\S+\s*|\s+", text)
