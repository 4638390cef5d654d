"""The table of every key baton binds, per context (see `tui.keymap`, which turns it into Textual
bindings, footers, the `?` help and line mode's choices).

Each entry names its id (remappable from the config file's `[keys]` table), its default keys, the
action it runs, its word in the footer and menus, a tooltip, and a predicate over `KeyFacts` saying
when it does something. Plain data: importing it loads no UI library.
"""

from __future__ import annotations

from baton.tui.keytable_diff import DIFF, DIFF_STEP
from baton.tui.keytable_inbox import INBOX
from baton.tui.keytable_lessons import HOME_LESSONS, LESSONS
from baton.tui.keytable_policy import HOME_POLICY, POLICY
from baton.tui.keytypes import Key, KeyFacts, Predicate
from baton.tui.option_words import APPROVE_WORDS, EDIT_WORDS

__all__ = ["CONTEXTS", "INBOX", "RESUMABLE", "TITLES", "Key", "KeyFacts"]


def _offered(option: str, word: str | None = None) -> Predicate:
    def check(facts: KeyFacts) -> bool:
        if option not in facts.options:
            return False
        return word is None or facts.words.get(option) == word

    return check


def _approve_keys() -> list[Key]:
    """One binding per word, so the footer says what `a` does at this checkpoint."""
    words = dict.fromkeys(["approve", *APPROVE_WORDS.values()])
    return [
        Key(
            "review.approve",
            "a",
            "decide",
            word,
            "Accept and go on" if word == "approve" else f"{word.capitalize()} (this checkpoint's approve)",
            _offered("approve", word),
            "when the checkpoint offers it",
            ("approve", word),
            decision=True,
        )
        for word in words
    ]


def _edit_keys() -> list[Key]:
    words = dict.fromkeys(["edit output", *EDIT_WORDS.values(), "edit prompt"])
    return [
        Key(
            "review.edit",
            "e",
            "edit",
            word,
            "Edit here (strings as text, one field per key); ctrl+s sends",
            _offered("edit", word),
            "when the checkpoint offers an edit",
            (word,),
            decision=True,
        )
        for word in words
    ]


RESUMABLE = ("paused", "cancelled", "failed", "interrupted", "completed", "degraded")
"""Session statuses a runner can take up again."""

HELP_KEY = Key("app.help", "question_mark", "app.help", "keys", "Every key of this screen, and when it works")
APP = (
    HELP_KEY,
    Key("app.palette", "ctrl+p", "command_palette", "palette", "Search every action", footer=False, priority=True),
    Key("app.theme", "ctrl+t", "next_theme", "theme", "Switch to the next theme (remembered)", footer=False),
    Key("app.quit", "ctrl+q", "quit", "quit", "Leave baton now (runners keep going)", footer=False, priority=True),
)
HOME = (
    Key(
        "home.new",
        "n",
        "new",
        "new session",
        "Start a session of the chosen workflow",
        lambda f: f.flows > 0 and not f.filtering,
    ),
    Key(
        "home.attach",
        "a",
        "attach",
        "attach",
        "Open the chosen session (or enter)",
        lambda f: bool(f.selected) and not f.filtering,
        "with a session chosen",
    ),
    Key(
        "home.resume",
        "r",
        "resume",
        "resume",
        "Start a runner for the chosen paused, stopped or finished session",
        lambda f: f.selected in RESUMABLE and not f.filtering,
        "on a paused, stopped or finished session",
    ),
    Key(
        "home.delete",
        "d",
        "delete",
        "delete",
        "Delete the chosen session (asks first)",
        lambda f: bool(f.selected) and f.selected not in ("running", "new", "waiting") and not f.filtering,
        "on a session that is not running",
    ),
    Key(
        "home.inbox",
        "i",
        "inbox",
        "inbox",
        "Every checkpoint waiting in every session: answer without attaching",
        lambda f: not f.filtering,
    ),
    HOME_LESSONS,
    HOME_POLICY,
    Key(
        "home.filter",
        "slash",
        "filter",
        "filter",
        "Filter sessions by id, workflow or status",
        lambda f: not f.filtering,
    ),
    Key(
        "home.unfilter",
        "escape",
        "unfilter",
        "clear filter",
        "Leave the filter and show every session",
        lambda f: f.filtering or f.filtered,
        "while filtering",
    ),
    Key(
        "home.mark",
        "m",
        "mark",
        "mark",
        "Mark the chosen session to compare another with it (D), or unmark it",
        lambda f: bool(f.selected) and not f.filtering,
        "with a session chosen",
        footer=False,
    ),
    Key(
        "home.diff",
        "D",
        "diff",
        "compare",
        "Compare the chosen session with the marked one (or a fork with its parent), step by step",
        lambda f: f.comparable and not f.filtering,
        "with another session marked, or on a fork",
    ),
    Key("home.quit", "q", "quit_app", "quit", "Leave baton (running sessions keep going)", lambda f: not f.filtering),
)
LIVE = "while the session runs"
RUN = (
    Key(
        "run.review",
        "v",
        "review",
        "review",
        "Review the waiting checkpoints (the inbox)",
        lambda f: f.waiting > 0,
        "when a checkpoint waits",
    ),
    Key("run.trace", "t", "trace", "trace", "Timeline of steps and model calls"),
    Key(
        "run.result",
        "o",
        "result",
        "result",
        "Show the session's result",
        lambda f: f.result,
        "once the session has a result",
    ),
    Key("run.step_mode", "s", "step_mode", "step mode", "Pause before every step (toggle)", lambda f: f.live, LIVE),
    Key(
        "run.breakpoint",
        "b",
        "breakpoint",
        "breakpoint",
        "Pause before the step chosen in the tree (toggle)",
        lambda f: f.live and f.chosen_step,
        "while the session runs, with a step chosen",
    ),
    Key(
        "run.pause", "p", "pause", "pause", "Pause once the running steps finish; resume later", lambda f: f.live, LIVE
    ),
    Key(
        "run.resume",
        "r",
        "resume",
        "resume",
        "Start a runner again for this session",
        lambda f: f.resumable,
        "when the session is paused, stopped, failed or its runner is lost",
    ),
    Key("run.cancel", "x", "cancel", "cancel", "Cancel the session now (asks first)", lambda f: f.live, LIVE),
    Key(
        "run.next_agent",
        "j",
        "cycle",
        "next agent",
        "Focus the next agent pane",
        lambda f: f.agents > 1,
        "with two agents or more",
        (1,),
        group="agent",
    ),
    Key(
        "run.prev_agent",
        "k",
        "cycle",
        "previous agent",
        "Focus the previous agent pane",
        lambda f: f.agents > 1,
        "with two agents or more",
        (-1,),
        group="agent",
    ),
    Key(
        "run.prev_page",
        "left_square_bracket",
        "page",
        "previous page",
        "Previous page of agent panes",
        lambda f: f.earlier_page,
        "when more agents ran than fit one page",
        (-1,),
        group="page",
    ),
    Key(
        "run.next_page",
        "right_square_bracket",
        "page",
        "next page",
        "Next page of agent panes",
        lambda f: f.later_page,
        "when more agents ran than fit one page",
        (1,),
        group="page",
    ),
    Key(
        "run.follow",
        "escape",
        "follow",
        "follow",
        "Follow the newest running agent again",
        lambda f: f.pinned,
        "after you chose a step or an agent",
    ),
    Key("run.zoom", "z", "zoom", "zoom", "The focused agent full size (toggle)", footer=False),
    Key(
        "run.compact",
        "c",
        "compact",
        "compact",
        "4 or 16 agent panes a page (toggle)",
        lambda f: f.agents > 1,
        "with two agents or more",
        footer=False,
    ),
    Key("run.inspector", "i", "inspector", "inspector", "Show or hide the inspector", footer=False),
    Key(
        "run.tool_call",
        "e",
        "tool_call",
        "tool call",
        "Show the chosen tool call in full (its arguments and whole result), or go back (toggle)",
        lambda f: f.tool_calls > 0,
        "when the focused agent called a tool",
    ),
    Key(
        "run.next_call",
        "n",
        "choose_call",
        "next call",
        "Choose the focused agent's next tool call",
        lambda f: f.tool_calls > 1,
        "when the focused agent made two tool calls or more",
        (1,),
        footer=False,
    ),
    Key(
        "run.prev_call",
        "N",
        "choose_call",
        "previous call",
        "Choose the focused agent's previous tool call",
        lambda f: f.tool_calls > 1,
        "when the focused agent made two tool calls or more",
        (-1,),
        footer=False,
    ),
    Key(
        "run.diff",
        "D",
        "diff",
        "diff parent",
        "Compare this fork with its parent, step by step",
        lambda f: f.comparable,
        "on a fork",
    ),
    Key("run.detach", "q", "detach", "detach", "Leave; the runner keeps going (baton attach returns)"),
    Key("run.stop", "Q", "stop", "stop", "Cancel the session and leave (asks first)", lambda f: f.live, LIVE),
)
REVIEW = (
    *_approve_keys(),
    *_edit_keys(),
    Key(
        "review.editor",
        "E",
        "edit_external",
        "$EDITOR",
        "Edit in $VISUAL or $EDITOR",
        lambda f: "edit" in f.options and f.editor,
        "when the checkpoint offers an edit and $EDITOR (or $VISUAL) is set",
        decision=True,
    ),
    Key(
        "review.reject",
        "r",
        "reject",
        "reject",
        "Run the step again with your feedback (at a tool call: your message goes back to the model)",
        _offered("reject"),
        "when offered",
        decision=True,
    ),
    Key(
        "review.deny",
        "d",
        "decide",
        "deny",
        "Deny the tool call and stop the step (a checkpoint for the step follows)",
        _offered("deny"),
        "at a tool call",
        ("deny",),
        decision=True,
    ),
    Key(
        "review.always",
        "A",
        "always",
        "always",
        "Run it, and let this tool run unasked for the rest of the session (optionally only for arguments"
        " matching a pattern)",
        _offered("always"),
        "at a tool call",
        decision=True,
    ),
    Key(
        "review.reroute",
        "R",
        "reroute",
        "reroute",
        "Go to another step the workflow allows",
        _offered("reroute"),
        "when offered",
        decision=True,
    ),
    Key(
        "review.retry_model",
        "m",
        "retry_model",
        "other model",
        "Run it again on another model (each with its forecast cost)",
        _offered("retry_model"),
        "when offered",
        decision=True,
    ),
    Key(
        "review.skip",
        "s",
        "skip",
        "skip",
        "Skip the step (values later steps need are asked for)",
        _offered("skip"),
        "when offered",
        decision=True,
    ),
    Key(
        "review.pause",
        "p",
        "decide",
        "pause",
        "Pause the session here; resume later",
        _offered("pause"),
        "when offered",
        ("pause",),
        decision=True,
    ),
    Key(
        "review.next",
        "n",
        "next",
        "next",
        "The next waiting checkpoint",
        lambda f: f.waiting > 1,
        "when several checkpoints wait",
    ),
    Key("review.later", "escape", "later", "later", "Back to the run; decide later"),
    HELP_KEY,  # a modal screen does not reach the app's own keys
)
TRACE = (
    Key(
        "trace.open",
        "enter",
        "open",
        "open step",
        "Back to the run with this step focused",
        lambda f: f.rows > 0,
        "with a row",
        priority=True,
    ),
    Key("trace.back", "escape,t", "back", "back", "Back to the run"),
)
CONFIRM = (
    Key("confirm.yes", "y", "answer", "yes", "Yes, do it", params=(True,)),
    Key("confirm.no", "n,escape", "answer", "no", "No, go back", params=(False,)),
)
PICKER = (
    Key("picker.choose", "enter", "choose", "choose", "Take the highlighted choice", priority=True),
    Key("picker.cancel", "escape", "cancel", "back", "Close without choosing"),
)
EDIT = (
    Key("edit.save", "ctrl+s", "save", "send", "Send this text", priority=True),
    Key("edit.cancel", "escape", "cancel", "cancel", "Close; nothing is sent"),
)
FORM = (
    Key("form.submit", "ctrl+s", "submit", "submit", "Submit the form", priority=True),
    Key("form.cancel", "escape", "cancel", "cancel", "Close without submitting"),
)
HELP = (Key("help.close", "escape,question_mark", "close", "close", "Back to the screen"),)

CONTEXTS: dict[str, tuple[Key, ...]] = {
    "app": APP,
    "home": HOME,
    "run": RUN,
    "review": REVIEW,
    "trace": TRACE,
    "confirm": CONFIRM,
    "picker": PICKER,
    "edit": EDIT,
    "form": FORM,
    "help": HELP,
    "inbox": INBOX,
    "lessons": LESSONS,
    "policy": POLICY,
    "diff": DIFF,
    "diff_step": DIFF_STEP,
}
TITLES = {
    "app": "everywhere",
    "home": "Home",
    "run": "Run",
    "review": "Review",
    "trace": "Trace",
    "confirm": "question",
    "picker": "choice",
    "edit": "editor",
    "form": "form",
    "help": "help",
    "inbox": "Inbox",
    "lessons": "Lessons",
    "policy": "Approval rules",
    "diff": "Diff",
    "diff_step": "step diff",
}
