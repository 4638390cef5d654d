"""Who made a decision and from where: `BATON_USER`, else the OS user; the front end and machine it came
from travels with the command into `DecisionMade.where` (the inbox, a decisions file, `--auto`), old records
without it still load, and the session's history says both."""

from __future__ import annotations

import json
import os
import pwd
import socket

import pytest

from baton.core import events as ev
from baton.core.commands import Command, decide
from baton.core.runner import RunOptions
from baton.core.view import who_decided
from baton.sessions.app import Sessions, decided_from, user_name
from baton.sessions.app.inbox import approve, waiting
from baton.sessions.errors import AppError
from baton.sessions.store import Store
from tests.helpers import Session
from tests.sessions.test_inbox import listed
from tests.tui.drive import REVIEWED

_LOGIN_VARIABLES = ("BATON_USER", "USER", "LOGNAME", "LNAME", "USERNAME")


def test_baton_user_names_the_person_else_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _LOGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert user_name() == pwd.getpwuid(os.getuid()).pw_name, "with no variable set, the account's name"
    monkeypatch.setenv("LOGNAME", "from-login")
    assert user_name() == "from-login"
    monkeypatch.setenv("BATON_USER", "ann")
    assert user_name() == "ann"


def test_where_names_the_front_end_and_the_machine() -> None:
    where = decided_from("cli")
    host = socket.gethostname()
    assert where == f"cli on {host}" or (where.startswith(f"cli on {host} (") and where.endswith(")"))


def test_where_travels_with_a_command_and_old_records_load_without_it() -> None:
    command = decide("draft:review:1", "approve", by="ann", where="inbox on box (pts/3)")
    stored = json.loads(json.dumps(command.to_json()))
    assert stored["where"] == "inbox on box (pts/3)"
    assert Command.from_json(stored, 7).where == "inbox on box (pts/3)"
    assert "where" not in decide("x", "approve").to_json()
    assert Command.from_json({"kind": "decide", "checkpoint_id": "x", "decision": "approve"}).where == ""
    old = ev.event_from_payload("DecisionMade", "draft", {"checkpoint_id": "x", "decision": "approve", "by": "ann"})
    assert isinstance(old, ev.DecisionMade) and old.where == ""
    new = ev.DecisionMade(step="draft", checkpoint_id="x", decision="approve", by="ann", where="cli on box")
    again = ev.event_from_payload("DecisionMade", "draft", json.loads(ev.encode_payload(new)))
    assert again == new


def test_history_says_who_and_from_where_but_not_twice_for_unattended_answers() -> None:
    assert who_decided("ann", "inbox on box (pts/3)") == "ann from inbox on box (pts/3)"
    assert who_decided("ann", "") == "ann"
    assert who_decided("auto", "auto") == "auto"
    assert who_decided("decisions:d.yaml", "decisions file") == "decisions:d.yaml"


async def test_a_decision_from_the_inbox_records_where_it_was_made(store: Store) -> None:
    session = await Session.start(store, REVIEWED)
    await session.checkpoint("draft")
    items = await listed(store, 1)
    (outcome,) = await approve(Sessions(store), items, by="ann", where="inbox on box (pts/3)")
    assert not isinstance(outcome, AppError)
    assert await session.finish() == "completed"
    view = await session.view()
    decision = view.checkpoints["draft:review:1"].decision
    assert decision is not None and (decision.by, decision.where) == ("ann", "inbox on box (pts/3)")
    made = [e.event for e in await store.events(session.id) if isinstance(e.event, ev.DecisionMade)]
    assert [(d.by, d.where) for d in made] == [("ann", "inbox on box (pts/3)")]
    assert "approve by ann from inbox on box (pts/3)" in view.steps["draft"].timeline
    assert await waiting(store) == []


@pytest.mark.parametrize(
    ("options", "by", "where"),
    [
        (RunOptions(auto="approve"), "auto", "auto"),
        (RunOptions(decisions={"draft": "approve"}, decisions_file="d.yaml"), "decisions:d.yaml", "decisions file"),
    ],
)
async def test_an_unattended_answer_records_where_it_came_from(
    store: Store, options: RunOptions, by: str, where: str
) -> None:
    session = await Session.start(store, REVIEWED, options=options)
    assert await session.finish() == "completed"
    made = [e.event for e in await store.events(session.id) if isinstance(e.event, ev.DecisionMade)]
    assert made and all((d.by, d.where) == (by, where) for d in made)
