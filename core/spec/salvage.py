"""A workflow with type errors still gets every other check: what failed validation is set aside, the rest
is validated and checked, so a type error does not hide a route typo three steps later.

Setting aside means the mildest change that makes the rest valid: an optional field is dropped (its default
applies), a declared state key, input or model alias keeps its name with a neutral shape, and a step that
cannot be read at all becomes a stand-in with the same id. Findings under what was set aside are not
reported (the type error already is), and flow-wide checks that a stand-in would mislead (reachability,
which keys are written before a step reads them) are skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from baton.core.spec.graph import DataPath
from baton.core.spec.model import ID_RE, WorkflowSpec

Locate = Callable[[ValidationError, Any], list[tuple[DataPath, str]]]
"""Each validation error of `data` as (a path into the data, pydantic's error type)."""

ROUNDS = 8
_STEP_LISTS = ("steps", "branches", "workers")
_STEP_FIELDS = ("step", "synthesis", "judge")
_NAMED = {"state": {"type": "any"}, "inputs": {}, "models": {"model": "mock/fast"}}
_SHAPING = ("reads", "writes", "output", "as", "over", "prompt", "system", "args")
"""Step fields other checks of the same step depend on."""


@dataclass
class Salvaged:
    """A spec valid once the paths in `set_aside` were set aside."""

    spec: WorkflowSpec
    set_aside: list[DataPath] = field(default_factory=list)

    def covers(self, path: DataPath) -> bool:
        """Is `path` inside something set aside, or around it (so its findings would only repeat a type error,
        or follow from it)? A step whose reads, writes or output were set aside is covered whole: its
        templates and writes cannot be checked against what it was meant to read and write."""
        return any(path[: len(aside)] == aside or (path and aside[: len(path)] == path) for aside in self._covered())

    def _covered(self) -> list[DataPath]:
        out = list(self.set_aside)
        for aside in self.set_aside:
            step = _step_at(aside)
            if step is not None and len(aside) > len(step) and aside[len(step)] in _SHAPING:
                out.append(step)
        return out


def salvage(data: Any, locate: Locate) -> Salvaged | None:
    """The spec `data` would be with its invalid parts set aside, or None when that does not converge."""
    if not isinstance(data, dict):
        return None
    work = copy.deepcopy(data)
    set_aside: list[DataPath] = []
    for _ in range(ROUNDS):
        try:
            return Salvaged(WorkflowSpec.model_validate(work), set_aside)
        except ValidationError as exc:
            changed = False
            for path, kind in locate(exc, work):
                target = _set_aside(work, path, kind)
                if target is not None and target not in set_aside:
                    set_aside.append(target)
                    changed = True
            if not changed:
                return None
    return None


def _set_aside(data: dict[str, Any], path: DataPath, kind: str) -> DataPath | None:
    """Change `data` so the error at `path` goes away; the path of what changed, or None if nothing could."""
    if kind == "missing":
        path = path[:-1]  # a required field is missing: set aside what lacks it
    step = _step_at(path)
    if step is not None and path[len(step) :] in ((), ("kind",)):
        return _stand_in(data, step)
    if len(path) == 2 and path[0] in _NAMED:
        holder = value_at(data, path[:1])
        if isinstance(holder, dict) and path[1] in holder:
            holder[path[1]] = copy.deepcopy(_NAMED[str(path[0])])
            return path
    for cut in range(len(path), 0, -1):
        head, last = path[: cut - 1], path[cut - 1]
        parent = value_at(data, head)
        if isinstance(last, int) or not isinstance(parent, dict) or last not in parent:
            continue
        if head == () and last in ("name", "steps"):
            return None
        if len(head) == 1 and head[0] in _NAMED:
            parent[last] = copy.deepcopy(_NAMED[str(head[0])])
            return path[:cut]
        if last in _STEP_LISTS or last in _STEP_FIELDS:
            return _stand_in(data, step) if step is not None else None
        del parent[last]
        return path[:cut]
    return None


def _step_at(path: DataPath) -> DataPath | None:
    """The path of the innermost step that `path` points into, if any."""
    found: DataPath | None = None
    for i, part in enumerate(path):
        if part in _STEP_LISTS and i + 1 < len(path) and isinstance(path[i + 1], int):
            found = path[: i + 2]
        elif part in _STEP_FIELDS and i > 0:
            found = path[: i + 1]
    return found


def _stand_in(data: dict[str, Any], step: DataPath) -> DataPath | None:
    """Replace the step at `step` with a gate of the same id (it keeps a valid `next`, so routes to it
    and past it still resolve)."""
    holder = value_at(data, step[:-1])
    key = step[-1]
    if isinstance(holder, list) and isinstance(key, int) and 0 <= key < len(holder):
        holder[key] = _gate_like(holder[key], f"step{key}")
    elif isinstance(holder, dict) and isinstance(key, str) and key in holder:
        stand_in = _gate_like(holder[key], key)
        if len(step) >= 3 and step[-3] == "tools" and isinstance(step[-2], int):
            stand_in = {"id": stand_in["id"], "kind": "agent"}  # a delegated sub-agent can only be an agent
        holder[key] = stand_in
    else:
        return None
    return step


def _gate_like(old: Any, fallback_id: str) -> dict[str, Any]:
    old_id = old.get("id") if isinstance(old, dict) else None
    stand_in: dict[str, Any] = {"id": old_id if isinstance(old_id, str) and ID_RE.match(old_id) else fallback_id}
    stand_in["kind"] = "gate"
    following = old.get("next") if isinstance(old, dict) else None
    if isinstance(following, str) and re.match(r"^[A-Za-z][\w\-]*$", following):
        stand_in["next"] = following
    return stand_in


def value_at(data: Any, path: DataPath) -> Any:
    """What `data` holds at `path` (None when nothing is there)."""
    node = data
    for part in path:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return None
        node = node[part]
    return node
