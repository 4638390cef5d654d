"""What the fake OpenAI server answers: text and tool calls, as the `delta` objects of OpenAI's chunk format.

A tool call streams the way OpenAI sends it: a first delta with its index, id, type and name (and empty
arguments), then the arguments' JSON text in pieces, each tagged with the same index. Several calls follow
one another, or interleave when `interleave` is set (some providers do), so a client must assemble by index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes: its id, the tool's name and the arguments' JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Answer:
    """One answer: text (one SSE chunk per word), then tool calls with their arguments split into `pieces`
    chunks each, sent call after call or `interleave`d; the usage to report (else the server's
    `prompt_tokens` and one completion token per chunk)."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    pieces: int = 3
    interleave: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunks: tuple[str, ...] = ()
    """The text's chunks exactly as given (instead of `text` split into words)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        """From a control request's JSON (`tool_calls` as objects)."""
        calls = tuple(
            ToolCall(str(c["id"]), str(c["name"]), str(c.get("arguments", ""))) for c in data.get("tool_calls") or ()
        )
        known = ("text", "pieces", "interleave", "prompt_tokens", "completion_tokens")
        return cls(tool_calls=calls, **{k: v for k, v in data.items() if k in known})

    def deltas(self) -> list[dict[str, Any]]:
        """The answer's chunks, as `delta` objects in order."""
        out: list[dict[str, Any]] = [{"content": chunk} for chunk in self.text_chunks()]
        streams = [self._call_deltas(index, call) for index, call in enumerate(self.tool_calls)]
        if not self.interleave:
            return out + [delta for stream in streams for delta in stream]
        for position in range(max((len(s) for s in streams), default=0)):
            out += [stream[position] for stream in streams if position < len(stream)]
        return out

    def text_chunks(self) -> list[str]:
        """The text as it streams."""
        return list(self.chunks) if self.chunks else _words(self.text)

    def _call_deltas(self, index: int, call: ToolCall) -> list[dict[str, Any]]:
        first = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        return [{"tool_calls": [first]}] + [
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            for piece in _split(call.arguments, self.pieces)
        ]


def _words(text: str) -> list[str]:
    """Text as chunks of one word each, with the space after it."""
    words = [w + " " for w in text.split(" ")[:-1]] + [text.split(" ")[-1]]
    return [w for w in words if w]


def _split(text: str, pieces: int) -> list[str]:
    """`text` in `pieces` parts of about equal length (fewer when it is shorter)."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]
