"""PostgreSQL locations: which `--db`/`BATON_DB` values name a server, and how one is shown.

A DSN may carry a password. It is kept only to connect: every place a person or a file could see the
location (the store's `location`, error messages, logs) gets `shown_dsn`, with the password as `***`,
and any error text passes through `scrub` (the password replaced wherever it appears).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from baton.core.secrets import MIN_SECRET_LEN, Redactor

SCHEMES = ("postgresql://", "postgres://")
HIDDEN = "***"
_URL_PASSWORD = re.compile(r"^([a-z]+://[^:/@?#]*):([^@/?#]*)@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def is_dsn(location: object) -> bool:
    """Does `location` name a PostgreSQL server (a `postgresql://` or `postgres://` URL)?"""
    return isinstance(location, str) and location.lower().startswith(SCHEMES)


def shown_dsn(dsn: str) -> str:
    """The DSN as a person may see it: `postgresql://user:***@host/db` (a `password=` parameter hidden too)."""
    shown = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{HIDDEN}@", dsn)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}{HIDDEN}", shown)


def password(dsn: str) -> str:
    """The DSN's password ('' when it has none)."""
    try:
        found = urlsplit(dsn).password
    except ValueError:
        found = None
    if found:
        return unquote(found)
    keyword = _KEYWORD_PASSWORD.search(dsn)
    return keyword.group(2).strip("'") if keyword else ""


def scrub(text: str, dsn: str) -> str:
    """`text` (an error message, say) with the DSN shown redacted and its password gone."""
    text = text.replace(dsn, shown_dsn(dsn))
    secret = password(dsn)
    for form in {secret, unquote(secret)} if secret else ():
        if form:
            text = text.replace(form, HIDDEN)
    return text


def guard(redactor: Redactor, dsn: str) -> Redactor:
    """`redactor`, now also replacing the DSN's password wherever it appears (in events, logs, errors)."""
    secret = password(dsn)
    if len(secret) >= MIN_SECRET_LEN and secret not in redactor.values:
        redactor.values = sorted([*redactor.values, secret], key=len, reverse=True)
    return redactor
