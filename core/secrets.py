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
