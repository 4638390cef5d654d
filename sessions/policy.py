"""Reading the record for approval rules: every person's decision on a tool call in the store, and the
rules they propose (see `core.policy.suggest`)."""

from __future__ import annotations

from baton.core.config import Config
from baton.core.policy.suggest import MIN_DECISIONS, Observed, Proposals, observed, suggest
from baton.sessions.interface import SessionStore


async def read_proposals(
    store: SessionStore, config: Config, minimum: int = MIN_DECISIONS
) -> tuple[list[Observed], Proposals]:
    """The decisions on tool calls in every session that had one, and the rules they propose (less those
    dismissed or already accepted in `config`)."""
    rows = await store.checkpoints(None)
    sessions = sorted({row.session_id for row in rows if row.reason == "tool_call"})
    seen: list[Observed] = []
    for session_id in sessions:
        seen.extend(observed(session_id, await store.events(session_id)))
    return seen, suggest(seen, minimum, config.dismissed, config.rules)
