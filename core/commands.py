"""Commands: what viewers send the runner (decide, pause, cancel, step mode, breakpoints, revoking an
always-for-this-session grant: `target` is the tool, `edited` the grant's pattern, None for every grant
of the tool).

Viewers never touch runner internals. A command is written to the session store (or handed to an
in-process runner); the runner validates it, persists the resulting event, then acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DECISIONS = ("approve", "edit", "reject", "reroute", "retry_model", "skip", "deny", "always", "pause")
COMMAND_KINDS = ("decide", "pause", "cancel", "step_mode", "breakpoint", "revoke")


@dataclass(frozen=True)
class Command:
    """One command. `id` is the store's row id (0 for in-process commands). `by` is who sent it,
    `where` from where (`inbox on HOST (pts/3)`, `cli on HOST`, …; '' when not said)."""

    kind: str
    by: str = "user"
    checkpoint_id: str = ""
    decision: str = ""
    feedback: str = ""
    target: str = ""
    model: str = ""
    edited: Any = None
    supplied: dict[str, Any] = field(default_factory=dict)
    step: str = ""
    enabled: bool = True
    where: str = ""
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        """Stored form (without the id)."""
        out: dict[str, Any] = {"kind": self.kind, "by": self.by}
        for name in ("checkpoint_id", "decision", "feedback", "target", "model", "step", "where"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.edited is not None:
            out["edited"] = self.edited
        if self.supplied:
            out["supplied"] = self.supplied
        if self.kind in ("step_mode", "breakpoint"):
            out["enabled"] = self.enabled
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], command_id: int = 0) -> Command:
        """Parse the stored form; unknown keys are ignored."""
        kind = str(data.get("kind", ""))
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command kind {kind!r}")
        return cls(
            kind=kind,
            by=str(data.get("by", "user")),
            checkpoint_id=str(data.get("checkpoint_id", "")),
            decision=str(data.get("decision", "")),
            feedback=str(data.get("feedback", "")),
            target=str(data.get("target", "")),
            model=str(data.get("model", "")),
            edited=data.get("edited"),
            supplied=dict(data.get("supplied") or {}),
            step=str(data.get("step", "")),
            enabled=bool(data.get("enabled", True)),
            where=str(data.get("where", "")),
            id=command_id,
        )


def decide(checkpoint_id: str, decision: str, by: str = "user", **details: Any) -> Command:
    """A decision command (`details`: feedback, target, model, edited, supplied, where)."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; one of {', '.join(DECISIONS)}")
    return Command(kind="decide", checkpoint_id=checkpoint_id, decision=decision, by=by, **details)


class CommandRejected(Exception):
    """The runner refused a command; the reason goes back to the viewer that sent it."""
