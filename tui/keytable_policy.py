"""The Approval rules screen's keys: part of the key table in `tui.keytable`, kept in its own module so
each stays short."""

from __future__ import annotations

from baton.tui.keytypes import Key

POLICY = (
    Key(
        "policy.accept",
        "a",
        "accept",
        "accept",
        "Accept the chosen proposed rule as it is (asks first): sessions started from now on apply it",
        lambda f: f.selected == "proposed",
        "on a proposed rule",
    ),
    Key(
        "policy.edit",
        "e",
        "edit",
        "edit & accept",
        "Change the chosen proposed rule's pattern (ARG=GLOB, …), then accept it",
        lambda f: f.selected == "proposed",
        "on a proposed rule",
    ),
    Key(
        "policy.dismiss",
        "x",
        "dismiss_proposal",
        "dismiss",
        "Dismiss the chosen proposed rule (asks first): it is not proposed again",
        lambda f: f.selected == "proposed",
        "on a proposed rule",
    ),
    Key(
        "policy.revoke",
        "r",
        "revoke",
        "revoke",
        "Revoke the chosen accepted rule (asks first): sessions started from now on ask again",
        lambda f: f.selected == "rule",
        "on an accepted rule",
    ),
    Key("policy.back", "q", "back", "back", "Back to Home"),
)
HOME_POLICY = Key(
    "home.policy",
    "P",
    "policy",
    "approval rules",
    "Approval rules learned from your decisions on tool calls: accept, dismiss, revoke",
    lambda f: not f.filtering,
    footer=False,
)
"""Home's key to the Approval rules screen."""
