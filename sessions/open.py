"""Which store a location names: a `postgresql://` (or `postgres://`) URL is a PostgreSQL server, anything
else a SQLite file (None: the default file in the data folder). Every front end opens its store here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from baton.core.secrets import Redactor
from baton.sessions.interface import SessionStore
from baton.sessions.pg_dsn import is_dsn, shown_dsn

__all__ = ["Location", "is_dsn", "location_of", "open_store", "shown_location"]

Location = str | os.PathLike[str]


def location_of(value: str | None) -> Path | str | None:
    """`--db`/`BATON_DB` as given: a server's URL kept as text, a file as a path (None when not given)."""
    if not value:
        return None
    return value if is_dsn(value) else Path(value)


def shown_location(location: Location) -> str:
    """A location as a person may see it (a URL's password hidden)."""
    return shown_dsn(location) if isinstance(location, str) and is_dsn(location) else str(location)


async def open_store(
    location: Location | None = None,
    redactor: Redactor | None = None,
    *,
    clock: Callable[[], float] = time.time,
    connections: int | None = None,
) -> SessionStore:
    """The store at `location`: a `PgStore` for a PostgreSQL URL (with up to `connections` to the server),
    else the SQLite `Store` (see `Store.open`)."""
    if isinstance(location, str) and is_dsn(location):
        from baton.sessions.pg_store import PgStore

        return await PgStore.open(location, redactor, clock=clock, connections=connections)
    from baton.sessions.store import Store

    return await Store.open(location, redactor, clock=clock)
