"""Errors a person sees as one line, each carrying the exit code the command ends with.

Every front end (the CLI, the Home screen, line mode) reports them the same way: the message as it is,
then exit with `code`. The codes are the documented ones: 1 failed, 2 invalid input (a workflow,
inputs, arguments, or a store or file baton cannot use), 3 session in use.
"""

from __future__ import annotations

import socket


class AppError(Exception):
    """Something asked of baton cannot be done; the message says what and, where it can, what to do."""

    code = 2

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidInput(AppError):
    """A workflow, an input, an argument or a file given by the person is not usable (exit 2)."""


class RunnerFailed(AppError):
    """A session's runner could not be started (exit 1)."""

    code = 1


class DecisionRefused(AppError):
    """The runner refused a decision; the message is its reason (exit 2)."""


class StoreError(AppError):
    """The store cannot do what was asked (unknown session, ambiguous prefix, ...)."""


class StoreUnusable(StoreError):
    """The store's file cannot be used at all: not a database, another program's database, written by a
    newer baton, not a regular file, or in a place this user cannot write."""


class SequenceConflict(StoreError):
    """An append collided with events already stored at the same sequence numbers (two writers): nothing
    of the batch was kept."""

    code = 1


class SessionInUse(StoreError):
    """Another live runner holds the session's lease (exit 3)."""

    code = 3

    def __init__(self, session_id: str, pid: int, host: str) -> None:
        where = "" if host == socket.gethostname() else f" on {host}"
        super().__init__(f"session {session_id} in use by pid {pid}{where}")
        self.session_id = session_id
        self.pid = pid
        self.host = host
