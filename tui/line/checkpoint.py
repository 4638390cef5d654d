"""One checkpoint in line mode: what it shows, the decision typed at the prompt, and the details a
decision needs (feedback, a reroute target, a model, an edit, values a skip must supply, the argument
pattern an always-for-this-session grant is scoped by: `always path=reports/*` at the prompt, or asked)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from baton.core.bus import Bus
from baton.core.view import CheckpointView, SessionView
from baton.tui import decisions
from baton.tui.launch import decided_from
from baton.tui.line import ask
from baton.tui.sanitize import inert
from baton.tui.tool_checkpoint import parse_pattern, pattern_arguments

OUTPUT_LINES = 40
"""At most this many lines of an output in the checkpoint's panel (`e` edits, and shows, all of it)."""
PROMPT_LINES = 20
"""At most this many lines of a prompt in the checkpoint's panel."""


class CheckpointDialog:
    """Shows checkpoints and sends the person's decisions for them."""

    def __init__(self, console: Console, bus: Bus, view: SessionView, by: str, streamed: dict[str, str]) -> None:
        self.console = console
        self.bus = bus
        self.view = view
        self.by = by
        self.where = decided_from("line")
        self.streamed = streamed
        """Text each step streamed to its end in this terminal (an output shown there is not repeated)."""

    def show(self, cp: CheckpointView, waiting: list[CheckpointView], index: int) -> None:
        """The inbox (when several wait), then the checkpoint's panel and the keys it takes."""
        several = len(waiting) > 1
        if several:
            self.console.print(Text(f"inbox: {len(waiting)} waiting, oldest first", style="bold yellow"))
            for i, other in enumerate(waiting):
                mark = "▶" if i == index else " "
                reason = decisions.REASONS.get(other.reason, other.reason)
                self.console.print(
                    Text(f" {mark} {i + 1}. {inert(self.view.title(other.step))} · {reason}", style="yellow")
                )
        title = Text(f"checkpoint {index + 1}/{len(waiting)}" if several else "checkpoint", style="bold yellow")
        self.console.print(Panel(Group(*self._body(cp)), title=title, title_align="left", border_style="yellow"))
        self.console.print(Text(ask.choice_hint(cp, len(waiting)), style="bold"))

    def _body(self, cp: CheckpointView) -> list[Text]:
        lines = decisions.context_lines(cp, self.view)
        title = self.view.title(cp.step)
        if lines and title != cp.step:  # the step as a person knows it (a map item by its label)
            lines[0] = lines[0].replace(inert(cp.step), inert(title), 1)
        body: list[Text] = [Text(line) for line in lines]
        streamed = self.streamed.get(cp.step)
        for section in decisions.sections(cp, self.view):
            text = section.text.splitlines()
            if section.title == "output" and streamed is not None and streamed.strip() == section.text.strip():
                body.append(Text(f"── output: as streamed above ({len(text)} lines) ──", style="dim"))
                continue
            clip = PROMPT_LINES if section.title == "prompt" else OUTPUT_LINES
            body.append(Text(f"── {section.title} ──", style="dim"))
            body.append(Text("\n".join(text[:clip]), style="red" if section.title == "error" else ""))
            if len(text) > clip:
                body.append(Text(f"… {len(text) - clip} more lines ([e]dit shows all)", style="dim"))
        needs = decisions.skip_needs(cp)
        if "skip" in cp.options and needs:
            body.append(Text(f"skipping needs values for: {', '.join(inert(k) for k in needs)}", style="dim"))
        return body

    async def answer(self, cp: CheckpointView, waiting: int) -> str:
        """Read decisions until one is accepted (`done`), or the person moves on: `next`, `pick:N`, `later`
        or `interrupt` (Ctrl-C / Ctrl-D at the prompt)."""
        while True:
            choice = await ask.choose(cp, waiting)
            if choice is None:
                return "interrupt"
            if choice in ("next", "later") or choice.startswith("pick:"):
                return choice
            if not choice:
                self.console.print(Text(f"  choose one of: {ask.choice_hint(cp, waiting)}", style="red"))
                continue
            option, _, given = choice.partition(" ")
            details = await self._details(cp, option, given)
            if details is None:
                continue
            command = decisions.build(cp, option, self.by, where=self.where, **details)
            verdict = await decisions.send_and_wait(self.bus, command)
            if verdict.ok:
                return "done"
            self.console.print(Text(f"  refused: {inert(verdict.reason)}", style="red"))

    async def _details(self, cp: CheckpointView, option: str, given: str = "") -> dict[str, object] | None:
        if option == "always":
            return await self._pattern(cp, given)
        if option == "reject":
            text = await ask.feedback("message for the model" if cp.reason == "tool_call" else "feedback")
            if text is None:
                return None
            return {"feedback": ask.strip_comment_header(text)}
        if option == "reroute":
            target = await ask.line(f"reroute to ({', '.join(cp.targets)})> ", list(cp.targets))
            if not target or target.strip() not in cp.targets:
                if target:
                    self.console.print(Text(f"  not an allowed target: {inert(target)}", style="red"))
                return None
            return {"target": target.strip()}
        if option == "retry_model":
            aliases = list(cp.forecasts)
            for alias in aliases:
                self.console.print(Text(f"  {inert(alias):12} {decisions.forecast_text(cp, alias)}"))
            model = await ask.line("model> ", aliases)
            if not model or not model.strip():
                return None
            return {"model": model.strip()}
        if option == "edit":
            edited = await ask.edit_decision(cp, self.view, lambda m: self.console.print(Text(m, style="red")))
            if edited is None:
                self.console.print(Text("  no change", style="dim"))
                return None
            return {"edited": edited}
        if option == "skip":
            return await self._supplied(cp)
        return {}

    async def _pattern(self, cp: CheckpointView, given: str) -> dict[str, object] | None:
        """The grant's scope: typed after `always`, else asked for (Enter alone: every call of the tool)."""
        arguments = pattern_arguments(cp)
        if not given and arguments:
            names = ", ".join(inert(name) for name, _ in arguments)
            hint = f"  only for some arguments? argument=glob, comma-separated ({names})"
            self.console.print(Text(hint, style="dim"))
            typed = await ask.line("pattern (Enter: every call)> ", [f"{name}=" for name, _ in arguments])
            if typed is None:
                return None
            given = typed
        try:
            pattern = parse_pattern([given])
        except ValueError as exc:
            self.console.print(Text(f"  {inert(exc)}", style="red"))
            return None
        return {"edited": pattern} if pattern else {}

    async def _supplied(self, cp: CheckpointView) -> dict[str, object] | None:
        needs = decisions.skip_needs(cp)
        if not needs:
            return {}
        self.console.print(Text(f"  later steps need {', '.join(needs)}: give a JSON value for each", style="yellow"))
        supplied: dict[str, object] = {}
        for key in needs:
            raw = await ask.line(f"{key}> ")
            if raw is None:
                return None
            supplied[key] = decisions.supplied_value(raw)
        return {"supplied": supplied}
