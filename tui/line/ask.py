"""Asking a person for a decision in line mode (prompt-toolkit), with `$EDITOR` for longer text."""

from __future__ import annotations

import asyncio

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings

from baton.tui import decisions


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


async def line(label: str, words: list[str] | None = None, default: str = "") -> str | None:
    """One line with completion over `words`; None on Ctrl-C / Ctrl-D."""
    completer = WordCompleter(words or [], ignore_case=False, sentence=True) if words else None
    session: PromptSession[str] = PromptSession(completer=completer, complete_while_typing=True)
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
