"""Line mode: live progress in the normal terminal flow, and decisions at checkpoints.

The bus is consumed by one task that folds events into a `SessionView`; the main loop renders a
small live region (running steps and the focused step's streaming text) and, when a checkpoint is
waiting, stops the live region and asks. Lines for finished steps scroll above it. Every string from a
model, a tool or a file is made inert and printed as plain `Text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import signal
import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from baton.core import events as ev
from baton.core.bus import Bus, RunnerLost
from baton.core.commands import Command
from baton.core.view import CheckpointView, SessionView
from baton.tui import decisions
from baton.tui.line import ask
from baton.tui.report import duration, step_line, summary
from baton.tui.sanitize import inert, one_line

STREAM_LINES = 8
REFRESH_S = 0.08


class LineViewer:
    """Watches one session in line mode; answers its checkpoints when `interactive`."""

    def __init__(
        self,
        bus: Bus,
        *,
        console: Console | None = None,
        interactive: bool = True,
        by: str = "user",
        bell: bool = True,
        exit_on_pause: bool = True,
    ) -> None:
        self.bus = bus
        self.console = console or Console(highlight=False, soft_wrap=not sys.stdout.isatty())
        self.interactive = interactive and sys.stdin.isatty()
        self.by = by
        self.bell = bell
        self.exit_on_pause = exit_on_pause
        self.view = SessionView(bus.session_id)
        self.text: dict[str, str] = {}
        self.focus_call = ""
        self.changed = asyncio.Event()
        self.lost = ""
        self._printed: set[tuple[str, str]] = set()
        self._pending: list[Text] = []
        self._prompting = False
        self._live: Live | None = None
        self._header_done = False
        self._interrupt = asyncio.Event()
        self._later: set[str] = set()

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> str:
        """Watch until the session ends, pauses, or the person detaches; returns the final status."""
        consumer = asyncio.ensure_future(self._consume())
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, self._interrupt.set)
        live = self.console.is_terminal
        try:
            if live:
                self._live = self._new_live()
                self._live.start()
            return await self._main()
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            if self._live is not None:
                self._live.stop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    async def _main(self) -> str:
        last = 0.0
        while True:
            waiter = asyncio.ensure_future(self.changed.wait())
            interrupt = asyncio.ensure_future(self._interrupt.wait())
            await asyncio.wait({waiter, interrupt}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            interrupt.cancel()
            self.changed.clear()
            if self._interrupt.is_set():
                self._interrupt.clear()
                outcome = await self._on_interrupt()
                if outcome is not None:
                    return outcome
            self._flush_lines()
            now = time.monotonic()
            if self._live is not None and now - last >= REFRESH_S:
                self._live.update(self._renderable(), refresh=True)
                last = now
            if self.lost:
                self._say(
                    Text(f"⚠ {self.lost}\n  continue it with: baton resume {self.view.session_id}", style="yellow")
                )
                return "lost"
            status = self.view.status
            if status in ("completed", "degraded", "failed") or (
                status in ("paused", "cancelled") and self.exit_on_pause
            ):
                self._finish()
                return status
            waiting = self._waiting()
            if waiting and self.interactive and status == "running":
                await self._decide(waiting)

    async def _consume(self) -> None:
        async for batch in self.bus.updates():
            for update in batch:
                if isinstance(update, ev.Envelope):
                    self.view.apply(update)
                    self._on_event(update)
                elif isinstance(update, ev.TokenDelta):
                    self.text[update.call_id] = self.text.get(update.call_id, "") + update.text
                    self.focus_call = update.call_id
                elif isinstance(update, RunnerLost):
                    self.lost = update.reason
            self.changed.set()

    # --- lines that scroll -----------------------------------------------------------------------

    def _on_event(self, env: ev.Envelope) -> None:
        e = env.event
        view = self.view
        if isinstance(e, ev.SessionStarted | ev.SessionResumed) and not self._header_done:
            self._header_done = True
            head = Text()
            head.append("baton", style="bold")
            head.append(f" · {inert(view.workflow)} · session {view.session_id}")
            models = sorted(set(view.models.values()))
            if models:
                head.append(f" · models: {one_line(', '.join(models), 60)}", style="dim")
            self._say(head)
        elif isinstance(e, ev.StepCompleted | ev.StepFailed | ev.StepSkipped | ev.StepCancelled):
            key = (e.step, e.kind)
            if key not in self._printed:
                self._printed.add(key)
                self._say(step_line(view.step(e.step)))
        elif isinstance(e, ev.Rerouted):
            how = f"route '{inert(e.route)}'" if e.route else f"rerouted by {inert(e.by)}"
            reason = f": {one_line(e.reason, 70)}" if e.reason else ""
            self._say(Text(f"  → {inert(e.target)} ({how}{reason})", style="cyan"))
        elif isinstance(e, ev.RetryScheduled):
            self._say(
                Text(
                    f"  ↻ {inert(e.step)}: {inert(e.error_type)} — retry {e.attempt} in {e.wait_s:.1f}s", style="yellow"
                )
            )
        elif isinstance(e, ev.FallbackUsed):
            to = inert(e.to_model) if e.to_model else "a static result"
            self._say(Text(f"  ⤵ {inert(e.step)}: falling back from {inert(e.from_model)} to {to}", style="yellow"))
        elif isinstance(e, ev.LLMCallFinished) and e.status == "discarded":
            self._say(Text(f"  ✂ {inert(e.step)}: partial answer discarded ({inert(e.error_type)})", style="yellow"))
            self.text.pop(e.call_id, None)
        elif isinstance(e, ev.BreakerChanged):
            self._say(Text(f"  ⚡ circuit breaker for {inert(e.model)}: {e.state}", style="yellow"))
        elif isinstance(e, ev.BudgetWarning) and e.blocked:
            self._say(
                Text(f"  $ {inert(e.step)}: call not sent — {inert(e.scope)} budget ${e.limit_usd:.4f}", style="red")
            )
        elif isinstance(e, ev.CheckpointOpened):
            self._later.clear()
            if self.bell and self.console.is_terminal:
                self.console.file.write("\a")
            self._say(
                Text(
                    f"  ⏸ {inert(e.step)}: {decisions.REASONS.get(e.reason, e.reason)} — waiting for a decision",
                    style="yellow bold",
                )
            )
            if not self.interactive:
                sid, target = self.view.session_id, shlex.quote(inert(e.step))
                self._say(
                    Text(
                        f"    no terminal to ask on: answer from another one with `baton attach {sid}` "
                        f"or `baton decide {sid} {target} approve` (or start runs with --auto approve)",
                        style="dim",
                    )
                )
        elif isinstance(e, ev.DecisionMade):
            detail = f" → {inert(e.target)}" if e.target else (f" on {inert(e.model)}" if e.model else "")
            said = f": {one_line(e.feedback, 70)}" if e.feedback else ""
            self._say(Text(f"  ✎ {inert(e.step)}: {e.decision}{detail} by {inert(e.by)}{said}", style="magenta"))
        elif isinstance(e, ev.LLMCallFinished):
            self.text.pop(e.call_id, None)

    def _say(self, line: Text) -> None:
        self._pending.append(line)

    def _flush_lines(self) -> None:
        if self._prompting or not self._pending:
            return
        lines, self._pending = self._pending, []
        for line in lines:
            if self._live is not None:
                self._live.console.print(line)
            else:
                self.console.print(line)

    # --- the live region -------------------------------------------------------------------------

    def _renderable(self) -> Group:
        view = self.view
        running = [s for s in view.steps.values() if s.status in ("running", "awaiting")]
        parts: list[Text | Panel] = [step_line(s) for s in running[:12]]
        if len(running) > 12:
            parts.append(Text(f"  … {len(running) - 12} more running", style="dim"))
        call = view.calls.get(self.focus_call)
        text = self.text.get(self.focus_call, "")
        if call is not None and text and call.status == "running":
            tail = "\n".join(inert(text).splitlines()[-STREAM_LINES:])
            parts.append(Panel(Text(tail), title=Text(inert(call.step)), title_align="left", border_style="dim"))
        status = Text()
        status.append(f"  {view.status}", style="bold")
        status.append(f" · ${view.cost_usd:.4f} · {duration(view.elapsed(time.time()))}")
        inbox = len(view.open_checkpoints)
        if inbox:
            status.append(f" · {inbox} waiting", style="yellow bold")
        status.append(" · Ctrl-C: detach / pause / cancel", style="dim")
        parts.append(status)
        return Group(*parts)

    def _finish(self) -> None:
        self._flush_lines()
        if self._live is not None:
            self._live.update(Text(""), refresh=True)
            self._live.stop()
            self._live = None
        self.console.print(summary(self.view))
        if self.view.status in ("paused", "cancelled"):
            self.console.print(Text(f"resume with: baton resume {self.view.session_id}", style="yellow"))

    # --- deciding --------------------------------------------------------------------------------

    def _pause_live(self) -> None:
        self._prompting = True
        if self._live is not None:
            self._live.stop()

    def _resume_live(self) -> None:
        self._prompting = False
        if self._live is not None:
            # A fresh Live: a restarted one would move the cursor up over the lines printed meanwhile.
            self._live = self._new_live()
            self._live.start()
        self._flush_lines()

    def _new_live(self) -> Live:
        return Live(self._renderable(), console=self.console, auto_refresh=False, transient=True)

    def _waiting(self) -> list[CheckpointView]:
        """The inbox (oldest first), without the checkpoints the person put off until something changes."""
        return [c for c in self.view.open_checkpoints if c.checkpoint_id not in self._later]

    async def _decide(self, waiting: list[CheckpointView]) -> None:
        """Answer checkpoints until none waits (or the person puts them off): the oldest first, any other
        on request (`n` for the next one, or its number in the inbox)."""
        current = waiting[0].checkpoint_id
        self._pause_live()
        self._flush_direct()
        try:
            while True:
                waiting = self._waiting()
                if not waiting or self.view.status != "running":
                    return
                ids = [c.checkpoint_id for c in waiting]
                if current not in ids:
                    current = ids[0]
                cp = self.view.checkpoints[current]
                index = ids.index(current)
                self._flush_direct()
                self._show(cp, waiting, index)
                task = asyncio.ensure_future(self._answer(cp, len(waiting)))
                while not task.done():
                    await asyncio.wait({task}, timeout=0.2)
                    latest = self.view.checkpoints.get(cp.checkpoint_id)
                    if (latest is None or not latest.is_open or self.view.status != "running") and not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                        self.console.print(Text("  (decided elsewhere, or the session stopped)", style="dim"))
                result = "" if task.cancelled() else task.result()
                if result == "done":
                    await self._settled(cp.checkpoint_id)
                elif result == "next":
                    current = ids[(index + 1) % len(ids)]
                elif result.startswith("pick:"):
                    current = ids[int(result[5:])]
                elif result == "interrupt":
                    return
                elif result == "later":
                    self._later.update(ids)
                    self.console.print(
                        Text("  put off until the next one opens (Ctrl-C, then Enter: back to the inbox)", style="dim")
                    )
                    return
        finally:
            self._resume_live()

    async def _settled(self, checkpoint_id: str, wait_s: float = 5.0) -> None:
        """Wait until the decision the runner accepted has reached this viewer's fold."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            latest = self.view.checkpoints.get(checkpoint_id)
            if latest is None or not latest.is_open or self.view.status != "running":
                return
            await asyncio.sleep(0.01)

    def _flush_direct(self) -> None:
        lines, self._pending = self._pending, []
        for line in lines:
            self.console.print(line)

    def _show(self, cp: CheckpointView, waiting: list[CheckpointView], index: int) -> None:
        body: list[Text] = [Text(line) for line in decisions.context_lines(cp, self.view)]
        for section in decisions.sections(cp, self.view):
            lines = section.text.splitlines()
            clip = 20 if section.title == "prompt" else 40
            body.append(Text(f"── {section.title} ──", style="dim"))
            body.append(Text("\n".join(lines[:clip]), style="red" if section.title == "error" else ""))
            if len(lines) > clip:
                body.append(Text(f"… {len(lines) - clip} more lines ([e]dit shows all)", style="dim"))
        needs = decisions.skip_needs(cp)
        if "skip" in cp.options and needs:
            body.append(Text(f"skipping needs values for: {', '.join(inert(k) for k in needs)}", style="dim"))
        several = len(waiting) > 1
        if several:
            self.console.print(Text(f"inbox: {len(waiting)} waiting, oldest first", style="bold yellow"))
            for i, other in enumerate(waiting):
                mark = "▶" if i == index else " "
                reason = decisions.REASONS.get(other.reason, other.reason)
                self.console.print(Text(f" {mark} {i + 1}. {inert(other.step)} · {reason}", style="yellow"))
        title = Text(f"checkpoint {index + 1}/{len(waiting)}" if several else "checkpoint", style="bold yellow")
        self.console.print(Panel(Group(*body), title=title, title_align="left", border_style="yellow"))
        self.console.print(Text(ask.choice_hint(cp, len(waiting)), style="bold"))

    async def _answer(self, cp: CheckpointView, waiting: int) -> str:
        while True:
            option = await ask.choose(cp, waiting)
            if option is None:
                self._interrupt.set()
                return "interrupt"
            if option in ("next", "later") or option.startswith("pick:"):
                return option
            if not option:
                self.console.print(Text(f"  choose one of: {ask.choice_hint(cp, waiting)}", style="red"))
                continue
            details = await self._details(cp, option)
            if details is None:
                continue
            verdict = await decisions.send_and_wait(self.bus, decisions.build(cp, option, self.by, **details))
            if verdict.ok:
                return "done"
            self.console.print(Text(f"  refused: {inert(verdict.reason)}", style="red"))

    async def _details(self, cp: CheckpointView, option: str) -> dict[str, object] | None:
        if option == "reject":
            text = await ask.feedback("feedback")
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
            needs = decisions.skip_needs(cp)
            if needs:
                self.console.print(
                    Text(f"  later steps need {', '.join(needs)}: give a JSON value for each", style="yellow")
                )
                supplied: dict[str, object] = {}
                for key in needs:
                    raw = await ask.line(f"{key}> ")
                    if raw is None:
                        return None
                    supplied[key] = decisions.supplied_value(raw)
                return {"supplied": supplied}
        return {}

    # --- Ctrl-C ----------------------------------------------------------------------------------

    async def _on_interrupt(self) -> str | None:
        if not sys.stdin.isatty():
            self.console.print(Text("interrupted: cancelling the session", style="yellow"))
            await decisions.send_and_wait(self.bus, _control("cancel", self.by), wait_s=10)
            return None
        self._pause_live()
        try:
            inbox = len(self.view.open_checkpoints)
            stepping = "off" if self.view.step_mode else "on"
            self.console.print(
                Text(
                    f"\n[Enter] back to the inbox ({inbox} waiting)  [s] step mode {stepping}  [b] breakpoint  "
                    "[d] detach (the runner keeps going)  [p] pause  [c] cancel now",
                    style="bold",
                )
            )
            choice = await ask.line("> ", ["s", "b", "d", "p", "c"])
            command = await self._control_choice(choice)
            if command != "detach":
                self._later.clear()
        finally:
            self._resume_live()
        if command == "detach":
            self.console.print(Text(f"detached; come back with: baton attach {self.view.session_id}", style="cyan"))
            return "detached"
        return None

    async def _control_choice(self, choice: str | None) -> str:
        """Act on a Ctrl-C menu choice; `detach` when the viewer should leave."""
        picked = (choice or "").strip()
        if choice is None or picked in ("d", "detach"):
            return "detach"
        if picked in ("s", "step"):
            enabled = not self.view.step_mode
            verdict = await decisions.send_and_wait(self.bus, Command(kind="step_mode", enabled=enabled, by=self.by))
            self._report(verdict, f"step mode {'on: pausing before every step' if enabled else 'off'}")
        elif picked in ("b", "breakpoint"):
            ids = _step_ids(self.view.workflow_text)
            step = await ask.line("breakpoint before step (prefix - to clear)> ", ids + [f"-{i}" for i in ids])
            if step and step.strip():
                name = step.strip()
                enabled = not name.startswith("-")
                command = Command(kind="breakpoint", step=name.lstrip("-"), enabled=enabled, by=self.by)
                verdict = await decisions.send_and_wait(self.bus, command)
                self._report(verdict, f"breakpoint {'set before' if enabled else 'cleared at'} {inert(command.step)}")
        elif picked in ("p", "pause"):
            await decisions.send_and_wait(self.bus, _control("pause", self.by))
            self.console.print(Text("pausing after the running steps finish…", style="yellow"))
        elif picked in ("c", "cancel"):
            await decisions.send_and_wait(self.bus, _control("cancel", self.by))
        return ""

    def _report(self, verdict: decisions.Verdict, done: str) -> None:
        if verdict.ok:
            self.console.print(Text(f"  {done}", style="cyan"))
        else:
            self.console.print(Text(f"  refused: {inert(verdict.reason)}", style="red"))


def _step_ids(workflow_text: str) -> list[str]:
    """Step ids named in a workflow's text (for completion; the runner checks what is sent)."""
    return list(dict.fromkeys(re.findall(r"\bid:\s*[\"']?([A-Za-z][A-Za-z0-9_\-]*)", workflow_text)))


def _control(kind: str, by: str) -> Command:
    return Command(kind=kind, by=by)
