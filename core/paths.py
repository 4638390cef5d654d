"""Where baton keeps its files (XDG base directories), created private to the user."""

from __future__ import annotations

import os
import stat
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


class UnusablePath(Exception):
    """A folder baton needs cannot be created or written; the message names it and what to do."""


def log_dir() -> Path:
    """`$XDG_STATE_HOME/baton/logs` (runner logs), created private to the user."""
    folder = state_dir() / "logs"
    try:
        return private_dir(private_dir(state_dir()) / "logs")
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise UnusablePath(
            f"{folder}: cannot create the folder for runner logs ({reason}); set XDG_STATE_HOME to a writable folder"
        ) from None


def log_path(session_id: str) -> Path:
    """The runner log of a session."""
    return log_dir() / f"{session_id}.log"


class NotRegularFile(OSError):
    """A path given as a file to read is a FIFO, a device, a socket or a folder: reading it could block
    forever or return endless data, so it is refused before anything is read."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"{os.fspath(path)}: not a regular file")
        self.filename = os.fspath(path)

    def __str__(self) -> str:
        return f"{self.filename}: not a regular file"


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most `limit` + 1, so a caller can tell it was over).

    Opened without blocking (a FIFO with no writer would otherwise wait forever) and checked on the open
    descriptor, so what is read is what was checked."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(path)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read() if limit is None else handle.read(limit + 1)
    finally:
        os.close(fd)


def check_regular(path: str | os.PathLike[str]) -> None:
    """Refuse a path that exists but is not a regular file (checked without opening it)."""
    try:
        info = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(path)
