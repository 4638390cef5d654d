"""Where baton keeps its files (XDG base directories), created private to the user."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(name: str, default: str) -> Path:
    value = os.environ.get(name)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def data_dir() -> Path:
    """`$XDG_DATA_HOME/baton` (default `~/.local/share/baton`)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "baton"


def state_dir() -> Path:
    """`$XDG_STATE_HOME/baton` (runner logs)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "baton"


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/baton` (config.toml, user themes)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "baton"


def default_db() -> Path:
    """The session database: `--db`, then `BATON_DB`, then `$XDG_DATA_HOME/baton/baton.db`."""
    env = os.environ.get("BATON_DB")
    return Path(env) if env else data_dir() / "baton.db"


def private_dir(path: Path) -> Path:
    """Create `path` (0700) if missing; an existing directory we did not create is left as it is."""
    if not path.exists():
        old = os.umask(0o077)
        try:
            path.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(old)
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if missing, and tighten it to 0600 if it exists."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def log_path(session_id: str) -> Path:
    """The runner log of a session."""
    return private_dir(private_dir(state_dir()) / "logs") / f"{session_id}.log"
