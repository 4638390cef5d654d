"""Tool calls put back together from a stream, as providers send them in OpenAI's chunk shape.

A provider streams each call as deltas tagged with the call's `index`: the first delta of an index carries
the call id and the tool's name, the following ones pieces of the arguments' JSON text, to be concatenated.
Calls of one answer may come one after the other or interleaved. Some providers repeat the id or the name on
later deltas, leave the index out, or give every call index 0 with distinct ids; all of these assemble to the
calls the model made, in order. A call that came without an id gets one derived from the request, so a
replayed request names its calls the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.core.llm.types import ModelToolCall


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Accumulates the tool-call deltas of one streamed answer."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}
        self._slot: dict[int | None, int] = {}
        """The stream's index (None when the provider gives none) → the call its deltas now extend."""

    def add(self, deltas: Any) -> bool:
        """Take one chunk's `delta.tool_calls` (objects or dicts); True when it held any."""
        if not deltas:
            return False
        for delta in deltas:
            function = _field(delta, "function")
            self._extend(
                _index(_field(delta, "index")),
                str(_field(delta, "id") or ""),
                str(_field(function, "name") or ""),
                str(_field(function, "arguments") or ""),
            )
        return True

    def _extend(self, index: int | None, call_id: str, name: str, arguments: str) -> None:
        key = self._slot.get(index)
        current = self._calls.get(key) if key is not None else None
        if current is None or (call_id and current.id and call_id != current.id):
            key = self._new_key(index, call_id)
            self._slot[index] = key
            current = self._calls.setdefault(key, _Partial())
        if call_id and not current.id:
            current.id = call_id
        if name and not current.name:
            current.name = name
        if arguments:
            current.arguments.append(arguments)

    def _new_key(self, index: int | None, call_id: str) -> int:
        """A call's place in the answer: its index, unless that index already holds another call."""
        if call_id:
            for key, partial in self._calls.items():
                if partial.id == call_id:
                    return key
        if index is not None and index not in self._calls:
            return index
        return max(self._calls, default=-1) + 1

    def text(self) -> str:
        """Names and arguments as the model wrote them (what its output tokens paid for)."""
        return "".join(p.name + "".join(p.arguments) for p in self._calls.values())

    def finish(self, seed: str | Callable[[], str]) -> tuple[ModelToolCall, ...]:
        """The calls in index order; a call without an id is named from `seed` (the request) and its place.
        `seed` may be a function, called only when a call came without an id (hashing a long request is
        not free, and most answers call no tool)."""
        out = []
        for position, key in enumerate(sorted(self._calls)):
            partial = self._calls[key]
            if not partial.name and not partial.arguments:
                continue
            if not partial.id and callable(seed):
                seed = seed()
            call_id = partial.id or derived_call_id(str(seed), position)
            out.append(ModelToolCall(call_id, partial.name, "".join(partial.arguments)))
        return tuple(out)


def derived_call_id(seed: str, position: int) -> str:
    """`call_` and 12 hex digits from what identifies the request and the call's place in the answer."""
    digest = hashlib.sha256(f"{seed}\x00{position}".encode()).hexdigest()
    return f"call_{digest[:12]}"


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _index(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
