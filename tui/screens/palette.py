"""The command palette: every action of the current screen, plus the screen's own commands.

Actions come from the screen's active bindings (so a remapped key shows its new key, and nothing bound
is missing from the palette); a screen adds commands that need an argument (attach to *this* session,
review *this* checkpoint) through `palette_commands()`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.markup import escape

from baton.tui.sanitize import inert


class HasCommands(Protocol):
    """A screen with commands of its own."""

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """(title, help, callback) for each command."""
        ...


class ActionsProvider(Provider):
    """The current screen's actions and commands."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            item = active.binding
            if not item.description or not active.enabled or item.action in seen:
                continue
            seen.add(item.action)
            keys = self.app.get_key_display(item) or key
            help_text = f"{item.tooltip} [{keys}]" if item.tooltip else f"[{keys}]"
            out.append((item.description, help_text, partial(self._run, active.node, item.action)))
        extra = getattr(screen, "palette_commands", None)
        if callable(extra):
            out.extend(extra())
        return out

    async def _run(self, node: object, action: str) -> None:
        run_action = getattr(node, "run_action", None)
        if callable(run_action):
            await run_action(action)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Content(inert(title)), callback, text=title, help=escape(inert(help_text)))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _highlight(matcher, inert(title)), callback, text=title, help=escape(inert(help_text)))


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
