"""What each decision is called at each kind of checkpoint: one word, the same in the footer, the Review
screen's menu, line mode's choices and the notices (`option_word`). Plain data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

APPROVE_WORDS = {
    "escalation": "retry",
    "budget": "send anyway",
    "cost": "send anyway",
    "ambiguous": "run it again",
    "step_mode": "run",
    "breakpoint": "run",
    "before_tool": "run",
    "tool_call": "run",
}
"""What approving means at each kind of checkpoint (default: approve)."""
EDIT_WORDS = {
    "gate": "edit values",
    "before_tool": "edit arguments",
    "tool_call": "edit arguments",
    "tool_denied": "supply output",
    "elicitation": "answer",
    "ambiguous": "supply result",
    "step_mode": "edit prompt",
    "breakpoint": "edit prompt",
    "escalation": "edit input",
    "cost": "edit prompt",
}
"""What editing changes at each kind of checkpoint (default: the output)."""
OPTION_WORDS = {
    "approve": "approve",
    "edit": "edit output",
    "reject": "reject",
    "reroute": "reroute",
    "retry_model": "other model",
    "skip": "skip",
    "deny": "deny",
    "always": "always",
    "pause": "pause",
}
"""Every decision's word where the checkpoint's kind does not change it."""


def option_word(option: str, reason: str, context: Mapping[str, Any] | None = None) -> str:
    """The one word for a decision at this kind of checkpoint (footer, menu, line mode, toasts)."""
    if option == "approve":
        return APPROVE_WORDS.get(reason, "approve")
    if option == "edit":
        if reason == "escalation" and (context or {}).get("category") != "input_invalid":
            return "edit prompt"
        return EDIT_WORDS.get(reason, "edit output")
    return OPTION_WORDS.get(option, option.replace("_", " "))
