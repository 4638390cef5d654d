"""Forking: a new session that starts from another one's record up to a step.

The new session gets a copy of every event before the step first started, then `Forked` and any
overridden state. Resuming it replays the copied steps from the record (nothing re-runs) and runs the
rest live; model requests identical to ones the parent already made are answered from its record at $0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from baton.core import events as ev
from baton.core.state import make_op
from baton.core.step_path import StepPath, under
from baton.sessions import projection
from baton.sessions.errors import StoreError
from baton.sessions.interface import SessionStore


def fork_point(envelopes: list[ev.Envelope], at_step: str) -> int:
    """Sequence number of the first event of `at_step` (a top-level step) in a session."""
    for env in envelopes:
        e = env.event
        if e.step and under(e.step, at_step) and not isinstance(e, ev.StepSkipped | ev.Rerouted):
            return env.seq
    raise StoreError(f"step '{at_step}' never ran in this session: fork at a step that ran")


async def fork_session(store: SessionStore, source_id: str, at_step: str, overrides: Mapping[str, Any]) -> str:
    """Create the fork and return its id (run it with `baton resume`)."""
    row = await store.session(source_id)
    envelopes = await store.events(source_id)
    top = {e.event.step for e in envelopes if StepPath(e.event.step).is_top}
    if at_step not in top:
        known = ", ".join(sorted(top))
        raise StoreError(f"'{at_step}' is not a top-level step of session {source_id} (steps: {known})")
    cut = fork_point(envelopes, at_step)
    prefix = [env.event for env in envelopes if env.seq < cut and not isinstance(env.event, _DROPPED)]
    prefix = [
        dataclasses.replace(e, parent=source_id, fork_step=at_step) if isinstance(e, ev.SessionStarted) else e
        for e in prefix
    ]
    new_id = await store.create_session(
        row.workflow,
        workflow_path=row.workflow_path,
        workflow_hash=row.workflow_hash,
        workflow_text=row.workflow_text,
        inputs=row.inputs_dict,
        options=row.options_dict,
        parent=source_id,
        fork_step=at_step,
    )
    marker: list[ev.Event] = [ev.Forked(parent=source_id, at_step=at_step, upto_seq=cut - 1, overrides=dict(overrides))]
    if overrides:
        marker.append(ev.StateUpdated(step="", ops=[make_op(k, "replace", v) for k, v in overrides.items()]))
    marker.append(ev.SessionPaused(reason=f"forked from {source_id} at '{at_step}': resume to run it"))
    await store.append(new_id, 1, [*prefix, *marker])
    await projection.rebuild(store, new_id)
    return new_id


_DROPPED = (ev.SessionPaused, ev.SessionCompleted, ev.SessionFailed, ev.SessionResumed, ev.TokenDelta)
