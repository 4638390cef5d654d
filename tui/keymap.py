"""Key bindings a user can remap from the config file's `[keys]` table.

Every binding in the app carries an id (`run.pause`, `review.approve`, ...). The config file maps ids to
keys, for example:

    [keys]
    "run.pause" = "P"
    "review.approve" = "y,enter"

Unknown ids and malformed keys are reported (one notification), never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType

_KEY_RE = re.compile(r"^(?:(?:ctrl|shift|alt|super|meta)\+)*[A-Za-z0-9_\-\[\]{}/\\.,;:'\"`~!@#$%^&*()=+<>?|]+$")


def binding(
    key: str,
    action: str,
    description: str,
    binding_id: str,
    tooltip: str,
    *,
    show: bool = True,
    priority: bool = False,
    key_display: str | None = None,
) -> Binding:
    """A binding with its id and tooltip (both required here, so none is forgotten)."""
    return Binding(
        key,
        action,
        description,
        show=show,
        priority=priority,
        id=binding_id,
        tooltip=tooltip,
        key_display=key_display,
    )


def binding_ids(groups: Iterable[Iterable[BindingType]]) -> dict[str, Binding]:
    """Every binding with an id, by id."""
    out: dict[str, Binding] = {}
    for group in groups:
        for item in group:
            if isinstance(item, Binding) and item.id:
                out[item.id] = item
    return out


def check_keymap(keys: Mapping[str, str], known: Mapping[str, Binding]) -> tuple[dict[str, str], list[str]]:
    """The usable part of a `[keys]` table, and a message for every entry that is not."""
    usable: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in keys.items():
        if binding_id not in known:
            problems.append(f"[keys] unknown binding id '{binding_id}'")
            continue
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if not parts or not all(_KEY_RE.match(p) for p in parts):
            problems.append(f"[keys] '{binding_id}': '{value}' is not a key (examples: 'p', 'ctrl+p', 'f5')")
            continue
        usable[binding_id] = ",".join(parts)
    return usable, problems
