"""Asking a person for a decision in line mode (prompt-toolkit), with `$EDITOR` for longer text.

The choices are the Review screen's: the same keys and words from `tui.keymap` (remapped by the config
file's `[keys]` table like the full screen's), `esc` to decide later. Values are edited as text the
way the Review screen edits them (`tui.values`): one value as its text, several as one section each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from baton.core.config import ConfigInvalid, load_config
from baton.core.view import CheckpointView, SessionView
from baton.tui import decisions, keymap
from baton.tui.values import ValueInvalid

LATER = "\x1b"
"""What the prompt returns when the person presses the key for `later`."""
_drafts: dict[str, str] = {}
"""The last text a person wrote for each checkpoint's edit: a refused edit opens with it again."""


def key_overrides() -> dict[str, str]:
    """The config file's `[keys]` remaps (none when the file is broken: the error is reported elsewhere)."""
    try:
        keys = load_config().keys
    except ConfigInvalid:
        return {}
    return keymap.check_keymap(keys, keymap.table_ids())[0]


def _later_keys(overrides: Mapping[str, str]) -> list[str]:
    later = next(k for k in keymap.REVIEW if k.id == "review.later")
    return [k.strip() for k in keymap.keys_of(later, overrides).split(",") if k.strip()]


def choice_hint(cp: CheckpointView, waiting: int = 1, overrides: Mapping[str, str] | None = None) -> str:
    """`[a] approve  [e] edit output  …  [n] next  [1-3] pick  [esc] later`, in the Review screen's words."""
    keys = dict(overrides if overrides is not None else key_overrides())
    facts = decisions.key_facts(cp, waiting)
    parts = []
    for key in keymap.active("review", facts):
        if key.id in ("review.editor", "review.later", "review.next") or key.id.startswith("app."):
            continue  # `e` already opens $EDITOR here; next and later come last; no key help here
        parts.append(f"[{keymap.key_text(keymap.keys_of(key, keys))}] {key.label}")
    if waiting > 1:
        nxt = next(k for k in keymap.REVIEW if k.id == "review.next")
        parts += [f"[{keymap.key_text(keymap.keys_of(nxt, keys))}] next", f"[1-{waiting}] pick"]
    parts.append(f"[{keymap.key_text(_later_keys(keys)[0])}] later")
    return "  ".join(parts)


def read_choice(typed: str, cp: CheckpointView, waiting: int, overrides: Mapping[str, str] | None = None) -> str:
    """A typed answer → an option, `next`, `pick:N` (0-based), `later`, or '' when it is none of them;
    `always` keeps what was typed after it (`always path=reports/*`)."""
    keys = dict(overrides or {})
    value = typed.strip()
    if typed == LATER or value == "later" or value in _later_keys(keys):
        return "later"
    if waiting > 1:
        nxt = next(k for k in keymap.REVIEW if k.id == "review.next")
        if value in ("next", *keymap.keys_of(nxt, keys).split(",")):
            return "next"
        if value.isdigit() and 1 <= int(value) <= waiting:
            return f"pick:{int(value) - 1}"
    first, _, rest = value.partition(" ")
    if rest.strip() and decisions.parse_choice(first, cp, keys) == "always":
        return f"always {rest.strip()}"  # `always path=reports/*`: the grant's scope, typed at once
    return decisions.parse_choice(value, cp, keys) or ""


async def choose(cp: CheckpointView, waiting: int = 1, overrides: Mapping[str, str] | None = None) -> str | None:
    """One answer at the `decision>` prompt, read by `read_choice` ('' when it is not a choice); None on
    Ctrl-C / Ctrl-D."""
    keys = dict(overrides if overrides is not None else key_overrides())
    words = [decisions.option_key(o, cp, keys) for o in cp.options] + list(cp.options) + ["later"]
    words += ["next"] if waiting > 1 else []
    typed = await line("decision> ", words, escape=[k for k in _later_keys(keys) if k == "escape"])
    return None if typed is None else read_choice(typed, cp, waiting, keys)


async def edit_decision(
    cp: CheckpointView, view: SessionView | None = None, say: Callable[[str], object] = print
) -> object | None:
    """Edit what this checkpoint lets a person change, as text; returns what to send as `edited`, or
    None when nothing changed. Text that does not parse is said with its error and opened again."""
    initial = _drafts.get(cp.checkpoint_id) or decisions.editable_text(cp, view)
    suffix = decisions.edit_suffix(cp)
    while True:
        text = await edit_text(initial, suffix)
        if text is None:
            return None
        _drafts[cp.checkpoint_id] = text
        try:
            changed, payload = decisions.parse_edit(cp, text, view)
        except ValueInvalid as exc:
            say(f"  not sent: {exc} — the editor opens again with your text")
            initial = text
            continue
        return payload if changed else None


async def edit_text(initial: str, suffix: str = ".md") -> str | None:
    """Edit `initial` in `$VISUAL`/`$EDITOR` (or a multi-line prompt); None when left unchanged or empty."""
    if decisions.editor_command() is not None:
        return await asyncio.to_thread(decisions.run_editor, initial, suffix)
    text = await multiline("edit (Esc then Enter to finish)", initial)
    if text is None or not text.strip() or text == initial:
        return None
    return text


async def multiline(label: str, initial: str = "") -> str | None:
    """A multi-line prompt-toolkit editor (Esc, Enter submits; Ctrl-C cancels)."""
    bindings = KeyBindings()
    session: PromptSession[str] = PromptSession(multiline=True, key_bindings=bindings)
    try:
        return await session.prompt_async(FormattedText([("bold", f"{label}\n")]), default=initial)
    except (EOFError, KeyboardInterrupt):
        return None


async def line(
    label: str, words: list[str] | None = None, default: str = "", escape: list[str] | None = None
) -> str | None:
    """One line with completion over `words`; None on Ctrl-C / Ctrl-D. A key in `escape` answers `LATER`."""
    completer = WordCompleter(words or [], ignore_case=False, sentence=True) if words else None
    bindings = KeyBindings()
    for key in escape or []:

        @bindings.add(key, eager=True)
        def _later(event: KeyPressEvent) -> None:
            event.app.exit(result=LATER)

    session: PromptSession[str] = PromptSession(completer=completer, complete_while_typing=True, key_bindings=bindings)
    try:
        return await session.prompt_async(FormattedText([("bold", label)]), default=default)
    except (EOFError, KeyboardInterrupt):
        return None


async def feedback(label: str) -> str | None:
    """Reviewer feedback: `$EDITOR` when set, else one line (an empty line opens a multi-line editor)."""
    if decisions.editor_command() is not None:
        return await edit_text(f"# {label}: write your feedback below, save and quit.\n\n", suffix=".txt")
    text = await line(f"{label}> ")
    if text is not None and not text.strip():
        text = await multiline(f"{label} (Esc then Enter to finish)")
    if text is None or not text.strip():
        return None
    return text.strip()


def strip_comment_header(text: str) -> str:
    """Drop leading `# …` instruction lines that the feedback template starts with."""
    lines = text.splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "\n".join(lines).strip()
