"""Every key baton binds, per context, in one table: the footers, the `?` help, the palette, the Review
screen's menu and line mode's choices all read it, so a key that is shown works and a key that works
is shown.

Each entry has an id the config file's `[keys]` table can remap, for example:

    [keys]
    "run.pause" = "P"
    "review.approve" = "y,enter"

and a predicate over `KeyFacts` (what the screen knows now) saying when the key does something. A
screen's `check_action` asks the table, so a key whose predicate fails is hidden from the footer and
does nothing; the help lists it greyed, with when it works. Unknown ids and malformed keys in the
config are reported (one notification), never fatal.

The table is plain data: nothing here imports Textual until `bindings()` builds a screen's `BINDINGS`,
so line mode can read the same words without loading the full-screen UI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from baton.tui.keytable import (
    APP,
    CONFIRM,
    CONTEXTS,
    EDIT,
    FORM,
    HELP,
    HOME,
    INBOX,
    PICKER,
    RESUMABLE,
    REVIEW,
    RUN,
    TITLES,
    TRACE,
    Key,
    KeyFacts,
)
from baton.tui.option_words import APPROVE_WORDS, EDIT_WORDS, OPTION_WORDS, option_word

if TYPE_CHECKING:
    from textual.binding import BindingType

__all__ = [
    "APP",
    "APPROVE_WORDS",
    "CONFIRM",
    "CONTEXTS",
    "EDIT",
    "EDIT_WORDS",
    "FORM",
    "HELP",
    "HOME",
    "INBOX",
    "OPTION_WORDS",
    "PICKER",
    "RESUMABLE",
    "REVIEW",
    "RUN",
    "TITLES",
    "TRACE",
    "Key",
    "KeyFacts",
    "Keyed",
    "option_word",
]

_KEY_RE = re.compile(r"^(?:(?:ctrl|shift|alt|super|meta)\+)*[A-Za-z0-9_\-\[\]{}/\\.,;:'\"`~!@#$%^&*()=+<>?|]+$")

KEY_NAMES = {
    "escape": "esc",
    "question_mark": "?",
    "slash": "/",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "enter": "enter",
}


def key_text(keys: str) -> str:
    """How a key is written for a person: `esc`, `?`, `[`, `ctrl+s` (the first of several)."""
    first = keys.split(",")[0].strip()
    return KEY_NAMES.get(first, first)


def keys_of(key: Key, overrides: Mapping[str, str] | None = None) -> str:
    """The keys bound to an entry after the config file's `[keys]` table."""
    return (overrides or {}).get(key.id, key.keys)


def find(context: str, action: str, params: tuple[object, ...]) -> Key | None:
    """The entry a binding's action belongs to (None: not one of the table's)."""
    wanted = tuple(params)
    for key in CONTEXTS.get(context, ()):
        if key.action == action and key.params == wanted:
            return key
    return None


def state(context: str, action: str, params: tuple[object, ...], facts: KeyFacts) -> bool | None:
    """For `check_action`: True (works, shown), False (hidden, does nothing), None (dimmed while a
    decision is on its way)."""
    key = find(context, action, params)
    if key is None:
        return True
    if not key.when(facts):
        return False
    if key.decision and facts.busy:
        return None
    return True


def offers_help(context: str) -> bool:
    """Whether `?` opens the help in this context (a modal screen only reaches keys it binds itself)."""
    return any(key.id == "app.help" for key in CONTEXTS.get(context, ()))


def active(context: str, facts: KeyFacts) -> list[Key]:
    """The entries that work now, in table order."""
    return [key for key in CONTEXTS.get(context, ()) if key.when(facts)]


def menu(context: str, facts: KeyFacts, overrides: Mapping[str, str] | None = None) -> str:
    """`[a] run  [e] edit prompt  …  [esc] later`: what works now, in the footer's words."""
    seen: set[str] = set()
    parts = []
    for key in active(context, facts):
        if key.id in seen:
            continue
        seen.add(key.id)
        parts.append(f"[{key_text(keys_of(key, overrides))}] {key.label}")
    return "  ".join(parts)


def bindings(context: str) -> list[BindingType]:
    """A screen's `BINDINGS`, built from the table (each with its id and tooltip)."""
    from textual.binding import Binding

    out: list[BindingType] = []
    for key in CONTEXTS[context]:
        out.append(
            Binding(
                key.keys,
                key.action_text,
                key.label,
                show=key.footer,
                priority=key.priority,
                id=key.id,
                tooltip=key.tooltip,
                group=Binding.Group(key.group, compact=True) if key.group else None,
            )
        )
    return out


class Keyed:
    """A screen whose keys come from one context of the table: its `check_action` asks the table."""

    KEY_CONTEXT = ""

    def key_facts(self) -> KeyFacts:
        """What decides which keys work now."""
        return KeyFacts()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return state(self.KEY_CONTEXT, action, parameters, self.key_facts())


def table_ids() -> dict[str, Key]:
    """Every id in the table (an id with several words appears once)."""
    out: dict[str, Key] = {}
    for keys in CONTEXTS.values():
        for key in keys:
            out.setdefault(key.id, key)
    return out


def check_keymap(keys: Mapping[str, str], known: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
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
