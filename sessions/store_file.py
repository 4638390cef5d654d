"""Whether a path can hold baton's sessions, decided before anything is written to it.

A path given by mistake — a file of random bytes, another program's SQLite database, a store written by a
newer baton, a FIFO, a folder this user cannot write — is refused with one line naming the path and what
to do, and the file is left exactly as it was: no mode change, no journal mode change, no new tables.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from baton.core import paths
from baton.sessions.errors import StoreUnusable

BATON_TABLES = frozenset({"sessions", "events"})
"""Tables whose presence makes a SQLite file a baton store (every schema version has them)."""

WHERE_ELSE = "choose another place with --db PATH or BATON_DB"


def check_path(db: Path) -> bool:
    """Refuse a path that cannot be a store file; True when the file does not exist yet."""
    try:
        info = os.stat(db)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise StoreUnusable(f"{db}: cannot use the session store: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreUnusable(f"{db}: not a regular file")
    # Checked as open() would check (effective ids and capabilities), never by opening the file: closing
    # a descriptor of it would drop this process's SQLite locks on it.
    if not os.access(db, os.R_OK | os.W_OK, effective_ids=True):
        raise StoreUnusable(f"{db}: the session store is not writable by this user (permission denied); {WHERE_ELSE}")
    if not os.access(db.parent, os.W_OK | os.X_OK, effective_ids=True):
        raise StoreUnusable(
            f"{db}: the session store's folder {db.parent} is not writable by this user (SQLite keeps its"
            f" journal there); {WHERE_ELSE}"
        )
    return False


def make_room(db: Path, default: bool) -> None:
    """Create the store's folder (0700) and an empty private file for a new store."""
    hint = f"set XDG_DATA_HOME to a writable folder, or {WHERE_ELSE}" if default else WHERE_ELSE
    try:
        paths.private_dir(db.parent)
    except PermissionError:
        raise StoreUnusable(
            f"{db.parent}: cannot create the session store's folder (permission denied); {hint}"
        ) from None
    except OSError as exc:
        raise StoreUnusable(f"{db.parent}: cannot create the session store's folder: {exc.strerror}; {hint}") from None
    try:
        paths.private_file(db)
    except PermissionError:
        raise StoreUnusable(f"{db}: cannot create the session store (permission denied); {hint}") from None
    except OSError as exc:
        raise StoreUnusable(f"{db}: cannot create the session store: {exc.strerror}; {hint}") from None


def inspect(conn: sqlite3.Connection, db: Path, latest: int) -> int:
    """The schema version of an existing file, read without writing anything; refuses a file that is not
    a baton store or was written by a newer baton."""
    try:
        # One read transaction: both from the same snapshot, even while another process migrates the file.
        conn.execute("BEGIN")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        raise StoreUnusable(f"{db}: not a baton store ({exc})") from None
    if not tables and version == 0:
        return 0
    if not tables >= BATON_TABLES or version == 0:
        count = len(tables)
        raise StoreUnusable(
            f"{db}: not a baton store (a SQLite database of another program: {count} table"
            f"{'s' if count != 1 else ''}, none of them baton's); {WHERE_ELSE}"
        )
    if version > latest:
        raise StoreUnusable(
            f"{db} was written by a newer baton (schema version {version}; this baton knows up to {latest}):"
            " upgrade baton, or use another --db"
        )
    return version
