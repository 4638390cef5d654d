"""The agents' text, written into the terminal's scrollback as it arrives, each agent's once.

Line mode follows one agent at a time: the first (in the order agents started) whose call is streaming.
Its text so far is printed when it is picked, then each row as soon as it is complete; the row still
being written waits in the live region under them, so nothing printed is ever taken back and a long
answer scrolls like any command's output. When its call ends the rest is printed, then the whole text of
any agent that finished meanwhile, then the next one streaming is picked: texts never interleave, and no
finished output is printed a second time. Every row sits behind a gutter, so a model's text cannot pass
for baton's own lines. Without a terminal (a pipe, a log) only whole lines are printed, each as soon as
its newline arrives.

The text itself comes from the viewer's `Feed` (already inert); this keeps only how far it was printed.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from baton.core.view import SessionView
from baton.tui.feed import Feed, PaneText
from baton.tui.line.render import follow_header

GUTTER = "    │ "
GUTTER_STYLE = "dim"


def wrap(line: str, width: int) -> list[str]:
    """`line` cut into rows of at most `width` cells, after a space where there is one; joined, the rows
    give `line` back exactly (spaces at a cut stay at the end of their row), so what was printed can be
    counted in characters."""
    rows: list[str] = []
    start, size = 0, len(line)
    while start < size:
        cells, end, cut = 0, start, -1
        while end < size:
            w = cell_len(line[end])
            if cells + w > width and end > start:
                break
            cells += w
            end += 1
            if line[end - 1] == " ":
                cut = end
        if end < size:
            if line[end] == " ":
                while end < size and line[end] == " ":
                    end += 1
            elif cut > start:
                end = cut
        rows.append(line[start:end])
        start = end
    return rows


def row(text: str) -> Text:
    """One printed row of a model's text, behind the gutter (spaces it was cut after are not drawn)."""
    out = Text(no_wrap=True, overflow="crop")
    out.append(GUTTER, style=GUTTER_STYLE)
    out.append(text.rstrip(" ").replace("\t", "    "))
    return out


class Stream:
    """Follows one step's text at a time in a `Feed` and says which rows are ready to print."""

    def __init__(self, feed: Feed, width: int | None) -> None:
        self.feed = feed
        self.width = width
        """Cells a row may take (None: not a terminal, print whole lines only)."""
        self.step = ""
        self.done = 0
        """Characters of the followed text already printed."""
        self.shown = ""
        """The followed text as it was when rows were last taken (what `done` counts in)."""
        self.announced = False
        self.again = False
        self.generation = -1
        """The pane generation `shown` belongs to."""
        self.seen: set[str] = set()
        """Calls whose text is printed to its end, or was finished before this viewer came."""
        self.printed: dict[str, str] = {}
        """Each step whose text was printed to its end in this terminal: that text (its last call's)."""
        self._history = True
        self._ended = ""
        """The step last followed, until it ends as a step: its own line comes before the next text."""

    @property
    def view(self) -> SessionView:
        """The session as folded so far."""
        return self.feed.view

    def take(self) -> list[Text]:
        """Rows ready for the scrollback: those of the step followed (`flow`); when none is followed (and
        the last one followed has ended as a step, not only its call), the whole text of each agent that
        finished unfollowed meanwhile (each once, in the order the agents started), then the rows so far of
        the next one streaming."""
        if self._history:  # what ended before this viewer came is the record's, not this terminal's
            self._history = False
            self.seen.update(p.call_id for p in self.feed.panes.values() if p.final)
        out = self.flow()
        if self.step or self._closing():
            return out
        for done in self._finished_unseen():
            self._follow(done.step)
            out += self._end(done)
        pane = self._pick()
        if pane is not None:
            out += self._rows(pane, final=False)
        return out

    def flow(self) -> list[Text]:
        """The followed step's new complete rows, or all that is left of it when its call has ended."""
        pane = self.feed.panes.get(self.step) if self.step else None
        if pane is None:
            return []
        if self._streaming(pane):
            return self._rows(pane, final=False)
        return self._end(pane)

    def finish(self) -> list[Text]:
        """Everything not printed yet: the rest of the followed step, then every agent that finished
        unfollowed (the session stopped)."""
        pane = self.feed.panes.get(self.step) if self.step else None
        out = self._end(pane) if pane is not None else []
        for done in self._finished_unseen():
            self._follow(done.step)
            out += self._end(done)
        return out

    def partial(self) -> list[Text]:
        """The row still being written (and any that arrived since rows were taken), for the live region."""
        pane = self.feed.panes.get(self.step) if self.step else None
        if pane is None or self.width is None or not self.announced:
            return []
        text = pane.text
        if not self._continues(pane, text):
            return []
        width = self.width
        return [row(r) for line in text[self.done :].split("\n") for r in (wrap(line, width) or [""])]

    # --- inside --------------------------------------------------------------------------------

    def _streaming(self, pane: PaneText) -> bool:
        step = self.view.steps.get(pane.step)
        return step is not None and step.status == "running" and not pane.final

    def _followable(self, pane: PaneText) -> bool:
        """An agent's own text: a router's or a manager's reply is not shown (the decision it carries is a
        line of its own), nor a call already printed."""
        step = self.view.steps.get(pane.step)
        return step is not None and not step.orchestration and pane.call_id not in self.seen

    def _closing(self) -> bool:
        if self._ended:
            step = self.view.steps.get(self._ended)
            if step is not None and step.status == "running":
                return True
            self._ended = ""
        return False

    def _finished_unseen(self) -> list[PaneText]:
        return [p for p in self.feed.ordered_panes() if p.final and p.length and self._followable(p)]

    def _pick(self) -> PaneText | None:
        """The first agent streaming now."""
        for path in self.feed.running_panes():
            pane = self.feed.panes[path]
            if pane.length and not pane.final and self._followable(pane):
                self._follow(path)
                return pane
        return None

    def _follow(self, step: str) -> None:
        self.step, self.done, self.shown, self.announced, self.again = step, 0, "", False, False
        self.generation = -1

    def _continues(self, pane: PaneText, text: str) -> bool:
        """Whether `text` goes on from what was printed: within one generation of a pane it only grows, so
        only a new generation (a new call, a corrected final text) is compared character by character."""
        return pane.generation == self.generation or text.startswith(self.shown[: self.done])

    def _end(self, pane: PaneText) -> list[Text]:
        """The rest of the followed text; the step is followed no more."""
        out = self._rows(pane, final=True)
        if pane.final:
            self.seen.add(pane.call_id)
            self.printed[pane.step] = pane.text
        self._follow("")
        self._ended = pane.step
        return out

    def _rows(self, pane: PaneText, final: bool) -> list[Text]:
        text = pane.text
        out: list[Text] = []
        if not self._continues(pane, text):
            # a new attempt, or a final text unlike what streamed: start over under a new header
            self.again = self.again or self.announced
            self.done, self.announced = 0, False
        self.shown, self.generation = text, pane.generation
        if not text[self.done :]:
            return out
        if not self.announced:
            self.announced = True
            step = self.view.steps.get(pane.step)
            if step is not None:
                out.append(follow_header(self.view, step, self.again))
            self.again = False
        rest = text[self.done :]
        cut = len(rest) if final else rest.rfind("\n") + 1
        for line in rest[:cut].splitlines() if cut else []:
            out += [row(r) for r in (wrap(line, self.width) if self.width else [line])] or [row("")]
        consumed = cut
        if not final and self.width:
            tail = wrap(rest[cut:], self.width)
            for r in tail[:-1]:
                out.append(row(r))
                consumed += len(r)
        self.done += consumed
        return out
