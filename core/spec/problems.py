"""Problems found in a workflow file, reported as `file:line:col: message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem; `severity` is error (the workflow cannot run) or warning (it can, but look)."""

    line: int
    col: int
    message: str
    file: str = "<workflow>"
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"


class WorkflowInvalid(Exception):
    """The workflow has errors; `problems` holds every one found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.col, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))
