"""The PostgreSQL schema: the SQLite schema's tables and columns, in PostgreSQL's types, versioned in a
`baton_schema` table instead of `PRAGMA user_version`.

One schema, two dialects: each SQLite migration is translated (REAL → DOUBLE PRECISION, INTEGER → BIGINT,
AUTOINCREMENT → an identity column, no `WITHOUT ROWID`), so a row read from either store is the same row.
`baton_commits` is a sequence every write transaction advances: `data_version` for a server.
"""

from __future__ import annotations

import re

from baton.sessions.schema import MIGRATIONS as SQLITE_MIGRATIONS

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS baton_schema (version BIGINT NOT NULL)"
MIGRATION_LOCK = 0x6261746F6E  # "baton": one advisory lock serialises processes migrating one database
CHANNEL = "baton_changes"
"""Every commit notifies this channel with the session it touched (what hosts and viewers will LISTEN on)."""

_TYPES = [
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\)\s*WITHOUT ROWID"), ")"),
]


def translate(sql: str) -> str:
    """A SQLite migration in PostgreSQL's dialect."""
    for pattern, replacement in _TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


_EXTRA = {1: "CREATE SEQUENCE baton_commits"}

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        number,
        [s.strip() for s in translate(sql).split(";") if s.strip()] + ([_EXTRA[number]] if number in _EXTRA else []),
    )
    for number, sql in SQLITE_MIGRATIONS
]
LATEST = MIGRATIONS[-1][0]
