"""Tools used by the bundled workflows (a tool step names `module:function`; the workflow's folder
is on the import path, so tools can live beside the workflow)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def outline(topic: str, count: int = 5) -> list[str]:
    """A fixed outline of `count` sections about `topic` (pure: no side effects)."""
    parts = [
        "goals and scope",
        "the people involved",
        "tools and process",
        "risks and how to spot them early",
        "costs and funding",
        "measuring progress",
        "communication",
        "what to do next",
    ]
    return [f"{topic}: {p}" for p in parts[: max(1, min(count, len(parts)))]]


def word_stats(text: str) -> dict[str, Any]:
    """Counts of words and characters (pure)."""
    words = text.split()
    return {"words": len(words), "chars": len(text), "longest": max(words, key=len) if words else ""}


def publish(text: str, words: Any, idempotency_key: str = "") -> str:
    """A side effect: append the text to a file (`BATON_PUBLISH_FILE`, default ./published.jsonl).

    The idempotency key lets the destination drop a duplicate if a person decides to run it again.
    """
    target = Path(os.environ.get("BATON_PUBLISH_FILE", "published.jsonl"))
    record = {"at": time.time(), "key": idempotency_key, "text": text, "words": words}
    with target.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    return f"published {len(text)} chars to {target} (key {idempotency_key[-12:]})"


NOTES_DIR = Path(__file__).resolve().parent / "notes"


def search_notes(query: str, limit: int = 5) -> list[dict[str, Any]]:
    """Search the bundled notes: the lines that share the most words with the query.

    Args:
        query: words to look for
        limit: how many lines to return at most
    """
    words = {w.strip(".,:;()").lower() for w in query.split() if len(w) > 2}
    scored = []
    for path in sorted(NOTES_DIR.glob("*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            hits = len(words & {w.strip(".,:;()").lower() for w in line.split()})
            if hits and not line.startswith("#"):
                scored.append((-hits, path.stem, number, line))
    scored.sort()
    return [{"note": note, "line": number, "text": text} for _, note, number, text in scored[: max(1, limit)]]


def read_note(name: str) -> str:
    """The whole text of one note, by name (as `search_notes` or `list_notes` give it).

    Args:
        name: the note's name, such as "costs"
    """
    stem = Path(name).stem
    path = NOTES_DIR / f"{stem}.md"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in NOTES_DIR.glob("*.md")))
        raise FileNotFoundError(f"no note named '{name}' (notes: {known})")
    return path.read_text(encoding="utf-8")


def save_report(path: str, text: str) -> str:
    """Save a report as a file under the reports folder (`BATON_REPORT_DIR`, default ./reports).

    Args:
        path: the file's name inside the reports folder
        text: the report
    """
    folder = Path(os.environ.get("BATON_REPORT_DIR", "reports"))
    target = (folder / Path(path).name).with_suffix(".md")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return f"saved {len(text)} characters to {target}"
