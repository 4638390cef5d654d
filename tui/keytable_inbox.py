"""The Inbox's keys (every checkpoint waiting in the store, across sessions): part of the key table in
`tui.keytable`, kept in its own module so each stays short."""

from __future__ import annotations

from baton.tui.keytypes import Key

INBOX = (
    Key(
        "inbox.approve",
        "a",
        "approve",
        "approve",
        "Approve the marked checkpoints, or the chosen one when none is marked",
        lambda f: f.approvable,
        "on checkpoints that offer approve",
        decision=True,
    ),
    Key(
        "inbox.mark",
        "space",
        "mark",
        "mark",
        "Mark or unmark the chosen checkpoint for a batch",
        lambda f: f.rows > 0,
        "with a checkpoint chosen",
    ),
    Key(
        "inbox.similar",
        "s",
        "mark_similar",
        "mark similar",
        "Mark every checkpoint like the chosen one (same workflow, step and question)",
        lambda f: f.similar > 1,
        "when others like the chosen one wait",
    ),
    Key(
        "inbox.open",
        "o",
        "open",
        "open",
        "Open the chosen checkpoint in its session's review (or enter): reject, edit and the rest",
        lambda f: f.rows > 0,
        "with a checkpoint chosen",
    ),
    Key(
        "inbox.unmark",
        "escape",
        "unmark",
        "unmark all",
        "Clear the marks",
        lambda f: f.marked > 0,
        "with checkpoints marked",
    ),
    Key(
        "inbox.back",
        "q",
        "back",
        "back",
        "Back to Home",
        lambda f: not f.standalone,
        "opened from Home",
        params=("home",),
    ),
    Key(
        "inbox.quit",
        "q",
        "back",
        "quit",
        "Leave baton (runners keep going)",
        lambda f: f.standalone,
        "opened by `baton inbox`",
        params=("quit",),
    ),
)
