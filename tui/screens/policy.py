"""The Approval rules screen: rules proposed from the decisions people made on tool calls, with their
evidence, and the rules already accepted in the config file.

Opened from Home (`P`). `a` accepts the chosen proposal as it is, `e` changes its pattern first (an
edit that would cover a refused call is refused), `x` dismisses it (never proposed again), `r` revokes
an accepted rule; `a`, `x` and `r` ask first. Sessions started from then on apply the change; a session
keeps the rules it started with. Tool names, arguments and evidence come from the record and are shown
as plain text, never as markup.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from baton.core.config import Config, ConfigInvalid, load_config, remove_rule, save_dismissed, save_rule
from baton.core.policy.rules import Rule
from baton.core.policy.suggest import HeldBack, Observed, Proposals, Suggestion, accepted
from baton.sessions.app import user_name
from baton.sessions.policy import read_proposals
from baton.tui import keymap
from baton.tui.keymap import Keyed, KeyFacts
from baton.tui.sanitize import inert, one_line
from baton.tui.screens.dialogs import ConfirmScreen, TextEditScreen
from baton.tui.screens.launcher import Launcher

if TYPE_CHECKING:
    from baton.tui.app import BatonApp

COLUMNS = ("id", "kind", "approve", "evidence")


@dataclass(frozen=True)
class Row:
    """One line of the table: a proposal, an accepted rule, or a tool held back."""

    key: str
    kind: str
    proposal: Suggestion | None = None
    rule: Rule | None = None
    held: HeldBack | None = None

    def cells(self) -> tuple[Text, ...]:
        if self.proposal is not None:
            s = self.proposal
            return (Text(s.id), Text("proposed", style="bold"), Text(one_line(s.describe(), 60)), _dim(s.evidence))
        if self.rule is not None:
            r = self.rule
            return (Text(r.id), Text("rule", style="green"), Text(one_line(r.scope(), 60)), _dim(r.evidence))
        assert self.held is not None
        return (Text(""), Text("not proposed", style="dim"), Text(one_line(self.held.tool, 60)), _dim(self.held.why))

    def detail(self) -> str:
        if self.proposal is not None:
            s = self.proposal
            lines = [f"approve {s.describe()} without asking", s.evidence, f"tool from {s.origin}"]
            lines += [f"e.g. {', '.join(f'{k}={v}' for k, v in ex.items())}" for ex in s.examples]
            return "\n".join(lines)
        if self.rule is not None:
            r = self.rule
            who = f"accepted by {r.accepted_by} {r.accepted_at}".strip() if r.accepted_by else ""
            return "\n".join(x for x in (f"approve {r.scope()}", r.evidence, who) if x)
        assert self.held is not None
        return f"{self.held.tool}: {self.held.why}"


def _dim(text: str) -> Text:
    return Text(one_line(text, 110), style="dim")


def rows_of(found: Proposals, rules: list[Rule]) -> list[Row]:
    """Proposals first, then the accepted rules, then the tools held back."""
    out = [Row(f"p:{s.id}", "proposed", proposal=s) for s in found.suggestions]
    out += [Row(f"r:{r.id}", "rule", rule=r) for r in rules]
    out += [Row(f"h:{h.tool}:{h.origin}", "held", held=h) for h in found.held_back]
    return out


class PolicyScreen(Keyed, Screen[None]):
    """Proposed and accepted approval rules; accept, edit, dismiss or revoke the chosen one."""

    KEY_CONTEXT = "policy"
    BINDINGS = keymap.bindings("policy")
    DEFAULT_CSS = """
    PolicyScreen #policy-title { height: 1; padding: 0 1; }
    PolicyScreen #policy-table { height: 1fr; border: round $primary; }
    PolicyScreen #policy-text { height: auto; max-height: 8; padding: 0 1; border: round $secondary; }
    """

    def __init__(self, launcher: Launcher, minimum: int = 5) -> None:
        super().__init__()
        self.launcher = launcher
        self.minimum = minimum
        self.items: list[Row] = []
        self.seen: list[Observed] = []
        self.config = Config()
        self.loaded = False

    @property
    def baton(self) -> BatonApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="policy-title")
        yield DataTable(id="policy-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="policy-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#policy-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.border_title = "approval rules"
        self.query_one("#policy-title", Static).update(
            Content.assemble(
                ("baton", "bold"),
                f" · approval rules from the decisions on tool calls in {inert(self.launcher.shown)}"
                f" · a rule needs {self.minimum} consistent approvals",
            )
        )
        table.focus()
        self.reload()

    @work(exclusive=True, group="policy", exit_on_error=False, description="read the decisions on tool calls")
    async def reload(self) -> None:
        """Read the config file and the store again."""
        try:
            config = load_config()
        except ConfigInvalid as exc:
            self.notify(inert(exc), severity="error", markup=False)
            config = Config()
        self.seen, found = await read_proposals(self.launcher.store, config, self.minimum)
        self.config = config
        self._show(rows_of(found, config.rules))

    def _show(self, items: list[Row]) -> None:
        chosen = self.chosen()
        self.items, self.loaded = items, True
        table = self.query_one("#policy-table", DataTable)
        table.clear()
        for row in items:
            table.add_row(*row.cells(), key=row.key)
        keys = [row.key for row in items]
        if chosen is not None and chosen.key in keys:
            table.move_cursor(row=keys.index(chosen.key))
        proposed = sum(1 for r in items if r.kind == "proposed")
        table.border_subtitle = f"{proposed} proposed · {len(self.config.rules)} accepted"
        self._show_text()
        self.refresh_bindings()

    def chosen(self) -> Row | None:
        """The row under the cursor."""
        if not self.is_mounted:
            return None
        table = self.query_one("#policy-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((row for row in self.items if row.key == key), None)

    def _show_text(self) -> None:
        chosen = self.chosen()
        text = self.query_one("#policy-text", Static)
        if chosen is None:
            empty = "nothing to propose yet: approve the same tool calls a few times first" if self.loaded else ""
            text.update(Text(empty, style="dim"))
        else:
            text.update(Text(inert(chosen.detail())))

    def key_facts(self) -> KeyFacts:
        chosen = self.chosen()
        return KeyFacts(rows=len(self.items), selected=chosen.kind if chosen else "", busy=not self.loaded)

    @on(DataTable.RowHighlighted, "#policy-table")
    def _row_moved(self) -> None:
        self._show_text()
        self.refresh_bindings()

    # --- actions ---------------------------------------------------------------------------------

    def action_accept(self) -> None:
        """Accept the chosen proposal as it is (after a confirmation)."""
        chosen = self.chosen()
        if chosen is None or chosen.proposal is None:
            return
        proposal = chosen.proposal

        def answered(yes: bool | None) -> None:
            if yes:
                self._accept(proposal, None)

        detail = f"approve {one_line(proposal.describe(), 80)} without asking, in sessions started from now on."
        self.app.push_screen(ConfirmScreen(f"Accept rule {proposal.id}?", detail), answered)

    def action_edit(self) -> None:
        """Change the chosen proposal's pattern, then accept it."""
        chosen = self.chosen()
        if chosen is None or chosen.proposal is None:
            return
        proposal = chosen.proposal
        shown = ", ".join(f"{k}={v}" for k, v in proposal.pattern.items())

        def edited(text: str | None) -> None:
            if text is None:
                return
            from baton.tui.tool_checkpoint import parse_pattern

            try:
                pattern = parse_pattern([text.strip()])
            except ValueError as exc:
                self.notify(inert(exc), severity="error", markup=False)
                return
            self._accept(proposal, pattern)

        title = f"Pattern of {one_line(proposal.tool, 40)} (ARG=GLOB, …; empty: any arguments)"
        self.app.push_screen(TextEditScreen(title, shown, blink=not self.baton.naive), edited)

    def _accept(self, proposal: Suggestion, pattern: dict[str, str] | None) -> None:
        at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        try:
            rule = accepted(self.seen, proposal, pattern, user_name(), at)
            save_rule(rule, self.config.path)
        except (ValueError, ConfigInvalid, OSError) as exc:
            self.notify(inert(exc), severity="error", markup=False)
            return
        self.notify(f"rule {rule.id} accepted: sessions started from now on apply it", markup=False)
        self.reload()

    def action_dismiss_proposal(self) -> None:
        """Dismiss the chosen proposal (after a confirmation): it is not proposed again."""
        chosen = self.chosen()
        if chosen is None or chosen.proposal is None:
            return
        proposal = chosen.proposal

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                save_dismissed([*self.config.dismissed, proposal.id], self.config.path)
            except (ConfigInvalid, OSError) as exc:
                self.notify(inert(exc), severity="error", markup=False)
                return
            self.notify(f"{proposal.id} dismissed: it is not proposed again", markup=False)
            self.reload()

        detail = f"{one_line(proposal.describe(), 80)} will not be proposed again."
        self.app.push_screen(ConfirmScreen(f"Dismiss {proposal.id}?", detail), answered)

    def action_revoke(self) -> None:
        """Revoke the chosen accepted rule (after a confirmation)."""
        chosen = self.chosen()
        if chosen is None or chosen.rule is None:
            return
        rule = chosen.rule

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                remove_rule(rule.id, self.config.path)
            except (ConfigInvalid, OSError) as exc:
                self.notify(inert(exc), severity="error", markup=False)
                return
            self.notify(f"rule {rule.id} revoked", markup=False)
            self.reload()

        detail = f"{one_line(rule.scope(), 80)} — sessions started from now on ask again."
        self.app.push_screen(ConfirmScreen(f"Revoke rule {rule.id}?", detail), answered)

    def action_back(self) -> None:
        """Back to Home."""
        self.dismiss(None)
