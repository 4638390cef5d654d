"""The Lessons screen's keys: part of the key table in `tui.keytable`, kept in its own module so each stays
short."""

from __future__ import annotations

from baton.tui.keytypes import Key

LESSONS = (
    Key(
        "lessons.edit",
        "e",
        "edit",
        "edit",
        "Edit the chosen lesson's text (or enter); sessions started from now on use it",
        lambda f: f.rows > 0,
        "with a lesson chosen",
    ),
    Key(
        "lessons.remove",
        "d",
        "remove",
        "remove",
        "Remove the chosen lesson (asks first); later sessions no longer get it",
        lambda f: f.rows > 0,
        "with a lesson chosen",
    ),
    Key("lessons.back", "q", "back", "back", "Back to Home"),
)
HOME_LESSONS = Key(
    "home.lessons",
    "l",
    "lessons",
    "lessons",
    "Lessons from reviewers' feedback, per workflow step: see, edit, remove",
    lambda f: not f.filtering,
    footer=False,
)
"""Home's key to the Lessons screen."""
