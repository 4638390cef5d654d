"""The `?` help: every key of the screen underneath, from the same table its footer comes from, with the
keys that do nothing now greyed and when they work beside them."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from baton.tui import keymap
from baton.tui.keymap import Key, Keyed, KeyFacts

Part = str | tuple[str, str]


def help_entries(context: str, facts: KeyFacts) -> list[tuple[Key, bool]]:
    """Each id of a context once, with whether it works now (a key with several words shows the one
    that applies, else its first)."""
    out: dict[str, tuple[Key, bool]] = {}
    for key in keymap.CONTEXTS.get(context, ()):
        works = key.when(facts)
        known = out.get(key.id)
        if known is None or (works and not known[1]):
            out[key.id] = (key, works)
    return list(out.values())


def help_content(context: str, facts: KeyFacts, overrides: Mapping[str, str] | None = None) -> Content:
    """The help text: this screen's keys, then the ones that work everywhere."""
    parts: list[Part] = []
    listed: set[str] = set()
    for title, name, state in (
        (keymap.TITLES.get(context, context), context, facts),
        (keymap.TITLES["app"], "app", KeyFacts()),
    ):
        entries = [(k, w) for k, w in help_entries(name, state) if k.id not in listed]
        if not entries:
            continue
        parts.append((f"{title}\n", "bold $primary"))
        for key, works in entries:
            listed.add(key.id)
            shown = ", ".join(keymap.key_text(k) for k in keymap.keys_of(key, overrides).split(","))
            style = "" if works else "dim"
            parts += [(f"  {shown:<12}", f"bold {style}".strip()), (f"{key.label:<16}", style), (key.tooltip, style)]
            if not works and key.only:
                parts.append((f" — {key.only}", "dim italic"))
            parts.append("\n")
        parts.append("\n")
    return Content.assemble(*parts)


class HelpScreen(Keyed, ModalScreen[None]):
    """Every key of the screen it was opened over."""

    KEY_CONTEXT = "help"
    BINDINGS = keymap.bindings("help")
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen #help { width: 110; max-width: 95%; height: auto; max-height: 90%; border: round $primary;
        background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; color: $primary; }
    HelpScreen #help-body { height: auto; max-height: 100%; }
    """

    def __init__(self, context: str, facts: KeyFacts, overrides: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.context = context
        self.facts = facts
        self.overrides = dict(overrides or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            title = f"keys · {keymap.TITLES.get(self.context, self.context)} (greyed: not now)"
            yield Static(Content(title), id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(help_content(self.context, self.facts, self.overrides), id="help-text")
        yield Footer()

    def action_close(self) -> None:
        """Back to the screen underneath."""
        self.dismiss(None)
