"""`baton doctor`: is this machine ready to run workflows, and if not, what to do.

Each check says what it found and, for a problem, what to do about it. Keys are checked with litellm's
own knowledge of which variable each provider reads (through the gateway); local model servers get a
short TCP and HTTP probe; the session store is opened read-only (doctor changes nothing); the terminal is
described as the full-screen UI will see it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from baton.core.config import Config, resolve_models
from baton.core.spec.model import ModelSpec
from baton.core.spec.model_refs import workflow_aliases

PROBE_TIMEOUT_S = 2.0
OLLAMA_DEFAULT = "http://localhost:11434"
OLLAMA_PROVIDERS = ("ollama", "ollama_chat")
MIN_SIZE = (80, 24)
SLOW_ESCAPE_MS = 100


@dataclass
class Check:
    """One line of the report: `ok` False is a problem (with `fix`); `advice` is a suggestion with a fix that
    does not stop anything from working; `info` is neither good nor bad news."""

    text: str
    ok: bool = True
    fix: str = ""
    info: bool = False
    advice: bool = False


@dataclass
class ModelUse:
    """A model as configured, and who uses it (the config file, workflow files)."""

    spec: ModelSpec
    aliases: set[str] = field(default_factory=set)
    used_by: list[str] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.spec.model.split("/", 1)[0] if "/" in self.spec.model else ""


def models_in_use(config: Config, flows: list[Path]) -> tuple[list[ModelUse], list[Check]]:
    """Every model the config file names and every model the given workflows call, once each."""
    from baton.core.config import known_aliases
    from baton.core.spec.load import load_workflow
    from baton.core.spec.problems import WorkflowInvalid

    uses: dict[tuple[str, str | None, str | None], ModelUse] = {}

    def add(alias: str, spec: ModelSpec, who: str) -> None:
        use = uses.setdefault((spec.model, spec.api_key_env, spec.api_base), ModelUse(spec))
        use.aliases.add(alias)
        if who not in use.used_by:
            use.used_by.append(who)

    for alias, configured in config.models.items():
        add(alias, configured, "config")
    skipped: list[Check] = []
    for path in flows:
        try:
            workflow = load_workflow(path, known_aliases(config))
        except WorkflowInvalid as exc:
            first = exc.problems[0] if exc.problems else None
            skipped.append(Check(f"{path}: does not load ({first.message if first else 'invalid'})", info=True))
            continue
        resolved = resolve_models(workflow.spec, config)
        for alias in workflow_aliases(workflow.spec):
            found = resolved.get(alias) or (ModelSpec(model=alias) if "/" in alias else None)
            if found is not None:
                add(alias, found, path.name)
    return list(uses.values()), skipped


def check_keys(uses: list[ModelUse]) -> list[Check]:
    """A line per real model: its key set, or the variable to export."""
    offline = sorted({u.spec.model for u in uses if u.spec.model.startswith("mock/")})
    real = [u for u in uses if not u.spec.model.startswith("mock/")]
    out: list[Check] = []
    if offline:
        out.append(Check(f"offline models need no key: {', '.join(offline)}"))
    if not real:
        out.append(Check("no real model is configured: every run uses the offline model", info=True))
        return out
    from baton.core.llm.gateway import LiteLLMGateway

    llm = LiteLLMGateway()
    for use in real:
        spec = use.spec
        name = f"{', '.join(sorted(use.aliases))} → {spec.model} (used by {', '.join(use.used_by)})"
        missing = llm.missing_keys(spec.model, spec.api_key_env, spec.api_base)
        if missing:
            out.append(
                Check(
                    f"{name}: {' or '.join(missing)} is not set",
                    ok=False,
                    fix=f"export {missing[0]}=… in the shell that runs baton (keys never live in files)",
                )
            )
        elif use.provider in OLLAMA_PROVIDERS:
            out.append(Check(f"{name}: a local server, no key needed"))
        else:
            held = f"{spec.api_key_env} is set" if spec.api_key_env else "key set"
            out.append(Check(f"{name}: {held}"))
    return out


def check_endpoints(uses: list[ModelUse], env: Mapping[str, str]) -> list[Check]:
    """Probe every local or self-hosted endpoint a model points at (and `OLLAMA_API_BASE` when set)."""
    targets: dict[tuple[str, bool], list[ModelUse]] = {}
    for use in uses:
        if use.spec.model.startswith("mock/"):
            continue
        ollama = use.provider in OLLAMA_PROVIDERS
        base = use.spec.api_base or (env.get("OLLAMA_API_BASE") or OLLAMA_DEFAULT if ollama else None)
        if base:
            targets.setdefault((base, ollama), []).append(use)
    if env.get("OLLAMA_API_BASE") and not any(ollama for _, ollama in targets):
        targets[(env["OLLAMA_API_BASE"], True)] = []
    if not targets:
        return [Check("no local or self-hosted model server is configured", info=True)]
    return [probe(base, ollama, users) for (base, ollama), users in targets.items()]


def probe(base: str, ollama: bool, users: list[ModelUse]) -> Check:
    """A TCP connect and one HTTP GET with a short timeout: is something there, and is it what we expect?"""
    who = ", ".join(sorted({a for u in users for a in u.aliases})) or "OLLAMA_API_BASE"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(f"{who} → {base}: not an http(s) URL", ok=False, fix="set api_base to http://host:port")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    start = "start it (`ollama serve`)" if ollama else "start the server"
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        return Check(
            f"{who} → {base}: nothing answers at {parts.hostname}:{port} ({reason})",
            ok=False,
            fix=f"{start}, or point {'OLLAMA_API_BASE' if ollama else 'api_base'} at where it runs",
        )
    path = parts.path.rstrip("/") + ("/api/tags" if ollama else "/models")
    try:
        status, body = _get(parts.scheme, parts.hostname, port, path)
    except (OSError, http.client.HTTPException) as exc:
        return Check(f"{who} → {base}: connects, but no HTTP answer ({exc})", ok=False, fix=start)
    if not ollama:
        return Check(f"{who} → {base}: answering (HTTP {status} for {path})")
    if status != 200:
        return Check(
            f"{who} → {base}: answers, but not as Ollama (HTTP {status} for /api/tags)",
            ok=False,
            fix="point OLLAMA_API_BASE (or api_base) at the Ollama server",
        )
    return _pulled(who, base, body, users)


def _pulled(who: str, base: str, body: bytes, users: list[ModelUse]) -> Check:
    try:
        listed = [str(m.get("name", "")) for m in json.loads(body).get("models", [])]
    except (ValueError, AttributeError):
        listed = []
    present = {name for name in listed} | {name.split(":", 1)[0] for name in listed}
    wanted = sorted({u.spec.model.split("/", 1)[1] for u in users if "/" in u.spec.model})
    absent = [w for w in wanted if w not in present]
    if absent:
        return Check(
            f"{who} → {base}: Ollama is up, but {', '.join(absent)} is not pulled",
            ok=False,
            fix=" && ".join(f"ollama pull {name}" for name in absent),
        )
    return Check(f"{who} → {base}: Ollama is up with {len(listed)} model{'s' if len(listed) != 1 else ''}")


def _get(scheme: str, host: str, port: int, path: str) -> tuple[int, bytes]:
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", path or "/", headers={"Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(1_048_576)
    finally:
        conn.close()


def check_store(path: Path | str) -> list[Check]:
    """The session store: where, how big, which schema, how private — opened read-only."""
    from baton.sessions.schema import LATEST

    if isinstance(path, str):
        return check_server(path)
    if not path.exists():
        parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return [Check(f"{path}: no store yet; it is created (0600 in a 0700 directory) on the first run")]
        return [Check(f"{path}: no store, and {parent} is not writable", ok=False, fix="choose --db or BATON_DB")]
    if not path.is_file():
        return [Check(f"{path}: not a file", ok=False, fix="point --db or BATON_DB at a file")]
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=PROBE_TIMEOUT_S)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            sessions = int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        reason = str(exc)
        return [
            Check(
                f"{path}: not a baton store ({reason})",
                ok=False,
                fix="point --db or BATON_DB at another file (this one is left as it is)",
            )
        ]
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    out = [Check(f"{path}: {sessions} session{'s' if sessions != 1 else ''}, {_size(size)}, schema {version}")]
    if version > LATEST:
        out.append(Check(f"schema {version} is newer than this baton knows ({LATEST})", ok=False, fix="upgrade baton"))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        out.append(Check(f"{path} is {mode:o}: others can read it", ok=False, fix=f"chmod 600 {path}"))
    folder = path.parent.stat().st_mode & 0o777
    if folder & 0o077:
        out.append(Check(f"its directory {path.parent} is {folder:o}: others can list it", info=True))
    return out


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    scaled = float(size)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def check_terminal(env: Mapping[str, str], tty: bool, size: tuple[int, int]) -> list[Check]:
    """What the full-screen UI will find: a terminal, TERM, its size, colours, tmux."""
    if not tty:
        return [Check("not a terminal here: runs print in line mode; the full-screen UI needs one", info=True)]
    term = env.get("TERM", "")
    out: list[Check] = []
    if not term or term == "dumb":
        out.append(
            Check(
                f"TERM is {term or 'not set'}: the full-screen UI cannot draw",
                ok=False,
                fix="export TERM=xterm-256color",
            )
        )
    colours = "colours off (NO_COLOR)" if env.get("NO_COLOR") else _colours(env)
    width, height = size
    text = f"TERM={term or '(unset)'}, {width}×{height}, {colours}"
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        fix = f"enlarge the window to at least {MIN_SIZE[0]}×{MIN_SIZE[1]} (the full-screen UI crowds below that)"
        out.append(Check(text, fix=fix, advice=True))
    else:
        out.append(Check(text))
    if env.get("TMUX"):
        out += _tmux(term)
    return out


def _colours(env: Mapping[str, str]) -> str:
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "true colour"
    return "256 colours" if "256" in env.get("TERM", "") else "few colours (set COLORTERM=truecolor if it has more)"


def _tmux(term: str) -> list[Check]:
    out = []
    if not term.startswith(("tmux", "screen")):
        out.append(
            Check(
                f"inside tmux with TERM={term} (tmux expects tmux-256color or screen-256color)",
                fix='add `set -g default-terminal "tmux-256color"` to ~/.tmux.conf',
                advice=True,
            )
        )
    else:
        out.append(Check(f"inside tmux ({term})"))
    try:
        shown = subprocess.run(
            ["tmux", "show-options", "-sv", "escape-time"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        ).stdout.strip()
        escape = int(shown)
    except (OSError, ValueError, subprocess.SubprocessError):
        return out
    if escape > SLOW_ESCAPE_MS:
        out.append(
            Check(
                f"tmux waits {escape} ms after esc (baton's esc keys will lag)",
                fix="add `set -sg escape-time 10` to ~/.tmux.conf",
                advice=True,
            )
        )
    return out


def report(sections: list[tuple[str, list[Check]]]) -> tuple[str, int]:
    """The printed report and the number of problems (suggestions are shown, not counted)."""
    lines: list[str] = []
    problems = suggestions = 0
    for title, checks in sections:
        lines.append(title)
        for check in checks:
            mark = "·" if check.info else ("!" if check.advice else ("✓" if check.ok else "✗"))
            lines.append(f"  {mark} {check.text}")
            if not check.ok or check.advice:
                problems += not check.ok
                suggestions += check.advice
                lines.append(f"    → {check.fix}")
    if problems:
        lines.append(f"{problems} problem{'s' if problems != 1 else ''} found")
    else:
        noted = f" ({suggestions} suggestion{'s' if suggestions != 1 else ''})" if suggestions else ""
        lines.append("all good" + noted)
    return "\n".join(lines), problems


def _terminal_size() -> tuple[int, int]:
    """The size of the terminal baton draws on, asked of the terminal itself (COLUMNS and LINES in the
    environment may be stale: inherited from another window); (0, 0) without one."""
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            size = os.get_terminal_size(stream.fileno())
        except (OSError, ValueError, AttributeError):
            continue
        return size.columns, size.lines
    fallback = shutil.get_terminal_size((0, 0))
    return fallback.columns, fallback.lines


def check_server(dsn: str) -> list[Check]:
    """A PostgreSQL store: reachable, and how many sessions it holds (its URL shown without the password)."""
    import asyncio

    from baton.sessions.errors import StoreError
    from baton.sessions.pg_dsn import shown_dsn
    from baton.sessions.pg_store import PgStore

    async def count() -> int:
        store = await PgStore.open(dsn)
        try:
            return len(await store.sessions(limit=1_000_000))
        finally:
            await store.close()

    try:
        sessions = asyncio.run(count())
    except StoreError as exc:
        return [Check(str(exc), ok=False, fix="check the server, the database and the role in BATON_DB")]
    return [Check(f"{shown_dsn(dsn)}: PostgreSQL, {sessions} session{'s' if sessions != 1 else ''}")]


def run_doctor(db: Path | str, cwd: Path | None = None) -> int:
    """`baton doctor`: print the report; exit 0 when all is well, 1 otherwise."""
    import click

    from baton.core.config import ConfigInvalid, load_config
    from baton.tui.launch import bundled_flows, local_flows

    try:
        config = load_config()
        found = config.path is not None and config.path.exists()
        config_check = [Check(f"{config.path}: {'read' if found else 'none (optional)'}")]
    except ConfigInvalid as exc:
        click.echo(f"config\n  ✗ {exc}\n    → fix the file (or move it away) and run baton doctor again")
        return 1
    uses, skipped = models_in_use(config, [*bundled_flows(), *local_flows(cwd)])
    size = _terminal_size()
    tty = sys.stdout.isatty() and sys.stdin.isatty()
    text, problems = report(
        [
            ("config", config_check + skipped),
            ("keys", check_keys(uses)),
            ("local model servers", check_endpoints(uses, os.environ)),
            ("session store", check_store(db)),
            ("terminal", check_terminal(os.environ, tty, size)),
        ]
    )
    click.echo(text)
    return 1 if problems else 0
