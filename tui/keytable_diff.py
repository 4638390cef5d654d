"""The keys of the Diff screen (two sessions side by side) and of one step's diff opened from it: part of
the key table in `tui.keytable`, kept in its own module so each stays short."""

from __future__ import annotations

from baton.tui.keytypes import Key

DIFF = (
    Key(
        "diff.open",
        "enter",
        "open",
        "step diff",
        "The chosen step's output diff, request diff, decisions and writes",
        lambda f: f.rows > 0,
        "with a step chosen",
        priority=True,
    ),
    Key(
        "diff.next",
        "n",
        "difference",
        "next difference",
        "Choose the next step that differs",
        lambda f: f.later_difference,
        "when a step after the chosen one differs",
        (1,),
    ),
    Key(
        "diff.previous",
        "N",
        "difference",
        "previous difference",
        "Choose the previous step that differs",
        lambda f: f.earlier_difference,
        "when a step before the chosen one differs",
        (-1,),
        footer=False,
    ),
    Key("diff.back", "escape", "back", "back", "Back to where the comparison was opened"),
)
DIFF_STEP = (Key("diff_step.back", "escape", "back", "back", "Back to the steps of the comparison"),)
