"""A new session of a workflow: recorded in the store, started by its runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baton.core.runner import RunOptions
from baton.core.spec.load import Workflow
from baton.sessions.interface import SessionStore


async def create_session(
    store: SessionStore,
    workflow: Workflow,
    inputs: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    models: Mapping[str, str] | None = None,
) -> str:
    """Record a new session of `workflow` (its runner appends `SessionStarted`); returns its id.

    `models` are alias overrides (`--model alias=model`), stored with the options so a resume uses them.
    """
    stored = (options or RunOptions()).to_json()
    if models:
        stored = {**stored, "models": dict(models)}
    return await store.create_session(
        workflow.name,
        workflow_path=_absolute(workflow.path),
        workflow_hash=workflow.hash,
        workflow_text=workflow.text,
        inputs=dict(inputs or {}),
        options=stored,
    )


def _absolute(path: str) -> str:
    """A file's absolute path; a name in angle brackets (`<demo>`, `<bench>`) is kept as it is."""
    return path if path.startswith("<") else str(Path(path).resolve())
