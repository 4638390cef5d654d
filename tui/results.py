"""`baton result` and `baton run -o FILE`: a session's result as text a program can read.

To a pipe or a file the text is written exactly as the session holds it; to a terminal, escape
sequences and control characters are made visible first (a model's text must not drive the terminal).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from baton.core.result import result_missing, result_text, session_result, stored_spec, value_text
from baton.core.view import SessionView
from baton.tui.report import shown_value
from baton.tui.sanitize import inert

# Characters that are valid inside a JSON string but act on a terminal (C1 controls, bidi overrides,
# line and paragraph separators): written as \\u escapes so piped JSON stays inert.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class ResultError(Exception):
    """The result cannot be given as asked; the message says why and what to do."""


def chosen(view: SessionView, key: str | None) -> dict[str, Any]:
    """The session's result, or one `key` of it (any state key with a value may be asked for by name)."""
    result = session_result(view, stored_spec(view))
    missing = result_missing(view, result)
    if missing is not None:
        raise ResultError(missing)
    if key is None:
        return result
    if key in result:
        return {key: result[key]}
    if view.state.get(key) is not None:
        return {key: view.state[key]}
    declared = ", ".join(result)
    raise ResultError(
        f"session {view.session_id} has no output '{key}' (its result: {declared}; "
        f"`baton show {view.session_id} --full` shows every state value)"
    )


def safe_json(value: Mapping[str, Any]) -> str:
    """One JSON object with terminal-active characters escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def render(result: Mapping[str, Any], as_json: bool) -> str:
    """The text `baton result` prints: one value alone, several under `# key` headings, or JSON."""
    if as_json:
        return safe_json(result) + "\n"
    return result_text(result)


def write_out(text: str, stream: TextIO | None = None) -> None:
    """Print to stdout: exactly as is to a pipe, made inert for a terminal."""
    out = stream or sys.stdout
    out.write(inert(text) if out.isatty() else text)
    out.flush()


def check_target(path: str) -> None:
    """Refuse an output path that cannot be written before anything runs."""
    if path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise ResultError(f"-o {path}: is a directory; name a file")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ResultError(f"-o {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ResultError(f"-o {path}: not writable")


def write_file(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all, private to the user (0600) like the session store."""
    if path == "-":
        write_out(text)
        return
    target = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def after_run(view: SessionView, path: str) -> str:
    """`baton run -o FILE` once the run has ended: write the result, or say why there is none."""
    try:
        result = chosen(view, None)
    except ResultError as exc:
        return f"no result written to {path}: {exc}"
    try:
        write_file(path, render(result, as_json=False))
    except OSError as exc:
        return f"cannot write the result to {path}: {exc.strerror or exc}"
    keys = ", ".join(result)
    return f"result ({keys}) written to {path}"


def full_state_lines(view: SessionView) -> list[str]:
    """Every state value whole, for `baton show --full`: text as it is, the rest as indented JSON."""
    lines: list[str] = []
    for key, value in view.state.items():
        text = inert(shown_value(value))
        if "\n" in text:
            lines.append(f"  {inert(key)}:")
            lines += [f"    {row}" for row in text.splitlines()]
        else:
            lines.append(f"  {inert(key)}: {text}")
    return lines


def result_line(view: SessionView) -> str:
    """`baton show`'s pointer to the result: which outputs it holds and the command that prints them."""
    try:
        result = chosen(view, None)
    except ResultError:
        return ""
    sizes = ", ".join(f"{key} ({len(value_text(value)):,} chars)" for key, value in result.items())
    return f"result: {inert(sizes)} — `baton result {view.session_id}` prints it"


async def print_result(db: Path | str, session: str, key: str | None, as_json: bool) -> int:
    """`baton result`: the result on stdout; exit 2 with the reason on stderr when there is none."""
    import click

    from baton.sessions.open import open_store

    store = await open_store(db)
    try:
        view = await store.view(await store.resolve(session))
    finally:
        await store.close()
    try:
        result = chosen(view, key)
    except ResultError as exc:
        click.echo(str(exc), err=True)
        return 2
    write_out(render(result, as_json))
    return 0
