"""Remembering that a workflow's tools import: checking them costs a child process (a Python start and the
tools' imports), so a check that found nothing wrong is kept, keyed by everything it depended on — the
calls, the workflow's folder and every Python file under it (path, size, modification time), the
interpreter and baton's version. Any change there checks again; a check that found a problem is never
kept (the person is fixing it). The cache is a private file in baton's state folder; losing it only costs
the next check its child process.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.core import paths

MAX_FILES = 2000
"""A folder with more Python files than this is not fingerprinted (its check is not kept)."""
KEEP = 64
"""Checks kept (the most recent)."""
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".ruff_cache"}


def fingerprint(folder: str | None, calls: list[str]) -> str | None:
    """What a check of `calls` from `folder` depended on, hashed; None when it cannot be told."""
    files: list[tuple[str, int, int]] = []
    if folder:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(names):
                if not name.endswith(".py"):
                    continue
                try:
                    info = os.stat(os.path.join(root, name))
                except OSError:
                    return None
                files.append((os.path.join(root, name), info.st_size, info.st_mtime_ns))
                if len(files) > MAX_FILES:
                    return None
    blob = json.dumps([sys.executable, _version(), folder, sorted(calls), files], separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("baton")
    except Exception:
        return "unknown"


def _cache_file() -> Path:
    return paths.state_dir() / "tool-checks.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError, paths.UnusablePath):
        return {}
    return data if isinstance(data, dict) else {}


def recall(key: str) -> dict[str, Any] | None:
    """A kept check's results, by call."""
    found = _read().get(key)
    return found if isinstance(found, dict) else None


def keep(key: str, results: dict[str, Any]) -> None:
    """Keep a check's results (best effort: a state folder that cannot be written only costs speed)."""
    data = _read()
    data.pop(key, None)
    data[key] = results
    while len(data) > KEEP:
        data.pop(next(iter(data)))
    try:
        paths.private_dir(paths.state_dir())
        target = paths.private_file(_cache_file())
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except (OSError, paths.UnusablePath):
        pass


def cached(
    folder: str | None, calls: list[str], check: Callable[[], dict[str, Any]], clean: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """`check()`'s results for `calls` from `folder`, from a kept check when nothing it depended on changed;
    results that are `clean` are kept for next time."""
    key = fingerprint(folder, calls)
    if key is not None:
        found = recall(key)
        if found is not None and set(found) == set(calls):
            return found
    results = check()
    if key is not None and clean(results):
        keep(key, results)
    return results
