"""The command palette: baton's actions first, then the few system commands baton has no key for.

Actions are the screen's working bindings from baton's key table (so a remapped key shows its new key,
nothing bound is missing, and a widget's own cursor keys do not crowd it); a screen adds commands that
need an argument (attach to *this* session, review *this* checkpoint) through `palette_commands()`.
It is the app's only provider, so the order is baton's: Textual's own theme picker and key panel are
left out (baton has one theme switcher, `ctrl+t`, and one key help, `?`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.markup import escape

from baton.tui import keymap
from baton.tui.sanitize import inert

SYSTEM_LAST = 0.5
"""A system command's match score is scaled by this, so baton's actions rank first on a tie."""
LEFT_OUT = {"Theme", "Keys", "Quit"}
"""Textual's system commands that baton replaces with its own (ctrl+t, ?, ctrl+q)."""


class HasCommands(Protocol):
    """A screen with commands of its own."""

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(title, help, callback) for each command."""
        ...


class ActionsProvider(Provider):
    """The current screen's actions and commands, then the system commands kept."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()
        ours = keymap.table_ids()
        for key, active in screen.active_bindings.items():
            item = active.binding
            if item.id not in ours or not active.enabled or item.action in seen or item.action == "command_palette":
                continue
            seen.add(item.action)
            keys = self.app.get_key_display(item) or key
            help_text = f"{item.tooltip} [{keys}]" if item.tooltip else f"[{keys}]"
            out.append((item.description, help_text, partial(self._run, active.node, item.action)))
        extra = getattr(screen, "palette_commands", None)
        if callable(extra):
            out.extend(extra())
        return out

    def _system(self) -> list[tuple[str, str, Callable[[], Any]]]:
        return [
            (command.title, command.help, command.callback)
            for command in self.app.get_system_commands(self.screen)
            if command.title not in LEFT_OUT and command.discover
        ]

    async def _run(self, node: object, action: str) -> None:
        run_action = getattr(node, "run_action", None)
        if callable(run_action):
            await run_action(action)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Content(inert(title)), callback, text=title, help=escape(inert(help_text)))
        for title, help_text, callback in self._system():
            yield DiscoveryHit(Content(title), callback, text=title, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _highlight(matcher, inert(title)), callback, text=title, help=escape(inert(help_text)))
        for title, help_text, callback in self._system():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score * SYSTEM_LAST, _highlight(matcher, title), callback, text=title, help=escape(help_text))


def _highlight(matcher: Matcher, title: str) -> Content:
    """The title with matched letters underlined (the title is plain text, never markup)."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if not score:
        return content
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize("bold underline", offset, offset + 1)
    return content
