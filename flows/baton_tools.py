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
