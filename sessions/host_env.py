"""Which runner host may run a session: one whose process has the environment the person ran `baton run`
in. A host is a long-lived process, and a session's tools, MCP servers and model keys see *its*
environment and working folder, not the command's: `OPENAI_API_KEY=… baton run flow` or a run from
another folder must not land on a host started without them.

The environment is compared by a fingerprint (a SHA-256 of the working folder and every variable but
those that only describe the terminal), so the values themselves are never stored. A session waits a
moment (`PIN_S`) for a host with its fingerprint; after that any host may run it (a host on another
machine, once no matching one is left), and a dead host's sessions are taken over by any live one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

PIN_S = 10.0
"""How long a queued session waits for a host with its environment to start before any host may claim it."""

TERMINAL_ONLY = frozenset(
    {
        "_",
        "OLDPWD",
        "PWD",
        "SHLVL",
        "COLUMNS",
        "LINES",
        "TERM",
        "COLORTERM",
        "TMUX",
        "TMUX_PANE",
        "WINDOWID",
        "SSH_TTY",
        "SSH_CLIENT",
        "SSH_CONNECTION",
        "GPG_TTY",
        "PS1",
        "PROMPT_COMMAND",
        "XDG_SESSION_ID",
        "XDG_VTNR",
        "STY",
        "BATON_LINE",
    }
)
TERMINAL_PREFIXES = ("TERM_", "LC_TERMINAL", "ITERM_", "KONSOLE_", "VTE_", "WT_")


def fingerprint(env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """This process's (or the given) environment and working folder, hashed."""
    values = os.environ if env is None else env
    kept = sorted(
        (k, v) for k, v in values.items() if k not in TERMINAL_ONLY and not k.startswith(TERMINAL_PREFIXES)
    )
    digest = hashlib.sha256()
    digest.update((cwd if cwd is not None else os.getcwd()).encode("utf-8", "surrogateescape"))
    for key, value in kept:
        digest.update(b"\0" + key.encode("utf-8", "surrogateescape") + b"=" + value.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]
