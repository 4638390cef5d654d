"""Keep credentials out of everything baton writes or shows.

Keys live only in the environment. Any value of an environment variable whose name looks like a
credential (…KEY, …TOKEN, …SECRET, …PASSWORD) is replaced wherever it appears, as are common key shapes
(`sk-…`, `Bearer …`) and passwords inside URLs. Applied to error messages, recorded requests, logs and
every persisted event.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

REDACTED = "[redacted]"
_NAME_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)S?$|^AWS_SESSION", re.IGNORECASE)
_SHAPES = re.compile(
    r"(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,})"
    r"|((?<=Bearer )[A-Za-z0-9._\-]{8,})"
    r"|((?<=://)[^/\s:@]+:[^/\s@]+(?=@))"
    r"|(AIza[0-9A-Za-z_\-]{20,})"
)
MIN_SECRET_LEN = 6


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-looking environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _NAME_RE.search(k) and len(v) >= MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Replaces known secret values and key-shaped strings; built once from the environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.values = secret_values(environ)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        if "sk-" in text or "Bearer" in text or "://" in text or "AIza" in text:
            text = _SHAPES.sub(REDACTED, text)
        return text

    def refresh(self, environ: Mapping[str, str] | None = None) -> None:
        """Re-read the environment (after a key was exported in a long-lived process)."""
        self.values = secret_values(environ)


_default = Redactor()


def redact(text: str) -> str:
    """Redact with the process-wide redactor."""
    return _default(text)


def default_redactor() -> Redactor:
    """The process-wide redactor (the store uses it on every payload)."""
    return _default


_SHAPE_STEMS = ("sk-", "AIza", "Bearer")
_BEARER_TAIL = re.compile(r"Bearer [A-Za-z0-9._\-]*\Z")
MAX_HELD = 4096  # a "word" longer than this is not a key: release it (redacted) rather than stall the stream
_WORD_RE = re.compile(r"[A-Za-z0-9._\-:/@+=]*\Z")


class StreamRedactor:
    """Redacts streamed text chunk by chunk, holding back a tail that could still become a secret.

    A secret split across chunks (`sk-ab` + `cd…`, or an environment value arriving a few characters at a
    time) is never shown in part: text that could be the start of one waits for the next chunk, and
    `flush` releases (redacted) whatever is held when the stream ends. Text is delayed only while it may
    be a secret, so ordinary prose streams through unchanged.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or _default
        self._held = ""

    def feed(self, chunk: str) -> str:
        """The part of `held + chunk` that is safe to show now, redacted."""
        text = self._held + chunk
        keep = self._risky_tail(text) if len(text) <= MAX_HELD else 0
        self._held = text[len(text) - keep :] if keep else ""
        return self.redactor(text[: len(text) - keep])

    def flush(self) -> str:
        """Whatever is held, redacted (the stream has ended)."""
        text, self._held = self.redactor(self._held), ""
        return text

    def _risky_tail(self, text: str) -> int:
        """How many characters at the end of `text` could still grow into a secret."""
        keep = 0
        for value in self.redactor.values:
            window = text[-(len(value) - 1) :]
            at = window.find(value[0])
            while at != -1 and len(window) - at > keep:
                if value.startswith(window[at:]):
                    keep = len(window) - at
                    break
                at = window.find(value[0], at + 1)
        bearer = _BEARER_TAIL.search(text)
        if bearer and len(bearer.group(0)) > keep:
            keep = len(bearer.group(0))
        word = _WORD_RE.search(text)
        tail = word.group(0) if word else ""
        if tail and len(tail) > keep and _may_be_shape(tail):
            keep = len(tail)
        return keep


def _may_be_shape(word: str) -> bool:
    """Whether an unfinished word could be, or become, a key shape the redactor replaces."""
    url = word.endswith(":") or ":/" in word or "//" in word
    return url or any(word.startswith(s) or s.startswith(word) for s in _SHAPE_STEMS)
