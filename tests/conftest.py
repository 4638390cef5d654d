"""Shared fixtures: every test gets private XDG directories and a real SQLite file."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from baton.sessions.store import Store

ROOT = Path(__file__).resolve().parent.parent
_RUNNER_MODULES = {b"baton.sessions.runner_main", b"baton.sessions.host_main"}
HOST_IDLE_EXIT_S = "5"
"""A runner host a test started on demand exits this soon after its last session (not after a minute)."""


def _runners_over(roots: list[Path]) -> list[int]:
    """Pids of background runners and runner hosts whose store is inside one of `roots`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not _RUNNER_MODULES.intersection(args) or b"--db" not in args[:-1]:
            continue
        db = Path(os.fsdecode(args[args.index(b"--db") + 1]))
        if not db.is_absolute():
            try:
                db = Path(os.readlink(entry / "cwd")) / db
            except OSError:
                continue
        if any(db.is_relative_to(root) for root in roots):
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def private_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """XDG directories inside a temporary home, so no test touches the user's files. A runner the test
    started and left behind (a test that failed while a session waited for a person) is killed after it."""
    home = tmp_path_factory.mktemp("home")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("BATON_DB", raising=False)
    monkeypatch.delenv("BATON_CONFIG", raising=False)
    monkeypatch.setenv("BATON_USER", "tester")
    monkeypatch.setenv("BATON_HOST_IDLE_EXIT", HOST_IDLE_EXIT_S)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_MODE", "PRODUCTION")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("BATON_REPORT_DIR", str(home / "reports"))  # the bundled flows' saved reports
    roots = [home]
    if "tmp_path" in request.fixturenames:
        roots.append(request.getfixturevalue("tmp_path"))
    yield home
    for pid in _runners_over(roots):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file path."""
    return tmp_path / "baton.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    """An open store over a real SQLite file."""
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


def baton_env(home: Path, db: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real `baton` command in a subprocess."""
    # COLUMNS and LINES (set by some runners, such as pytest-xdist's workers) would fix a terminal
    # program's size whatever terminal it runs in.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(
        {
            "XDG_DATA_HOME": str(home / "xdg_data_home"),
            "XDG_CONFIG_HOME": str(home / "xdg_config_home"),
            "XDG_STATE_HOME": str(home / "xdg_state_home"),
            "BATON_DB": str(db),
            "BATON_USER": "tester",
            "BATON_HOST_IDLE_EXIT": HOST_IDLE_EXIT_S,
            "BATON_REPORT_DIR": str(home / "reports"),
        }
    )
    env.update(extra)
    return env
