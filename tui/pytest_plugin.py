"""A pytest plugin: case files under `baton-tests/` run as tests next to the others.

Registered as a `pytest11` entry point, so installing baton is enough. It collects only `.jsonl` files
inside a folder named `baton-tests` whose first line is a case header, and reports a failing case
exactly as `baton test` does (the differences, or where it diverged and the request diff).
`--baton-live` replays with `--live`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CASES_DIR = "baton-tests"


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--baton-live`: call the model for requests a case has no answer for (and record them)."""
    group = parser.getgroup("baton")
    group.addoption("--baton-live", action="store_true", help="replay baton cases with --live")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A case file under a `baton-tests` folder becomes a test file."""
    if file_path.suffix != ".jsonl" or CASES_DIR not in file_path.parts[:-1]:
        return None
    from baton.sessions.cases import is_case_file

    if not is_case_file(file_path):
        return None
    collector: pytest.Collector = CaseFile.from_parent(parent, path=file_path)
    return collector


class CaseFailed(Exception):
    """A case did not pass; carries its report."""


class CaseFile(pytest.File):
    """One case file: one test."""

    def collect(self) -> Iterator[pytest.Item]:
        """The case, read now (a broken file is a collection error naming its line and column)."""
        from baton.sessions.cases import CaseInvalid, read_case

        try:
            case = read_case(self.path)
        except CaseInvalid as exc:
            raise self.CollectError(str(exc)) from None
        yield CaseItem.from_parent(self, name=case.name, case=case)


class CaseItem(pytest.Item):
    """A case replayed against its workflow as it is now."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        """Replay; a failure or a divergence fails the test with the case's report."""
        from baton.core.config import Config, ConfigInvalid, load_config
        from baton.sessions.cases import replay
        from baton.sessions.cases.replay import load_case_workflow
        from baton.sessions.cases.report import case_block
        from baton.tui.sanitize import inert

        live = bool(self.config.getoption("--baton-live"))
        try:
            settings = load_config()
        except ConfigInvalid:
            settings = Config()
        llm: Any = None
        if live:
            from baton.core.llm.gateway import LiteLLMGateway

            llm = LiteLLMGateway()
        workflow = load_case_workflow(self.case, settings)
        outcome = asyncio.run(replay(self.case, live=live, llm=llm, config=settings, workflow=workflow))
        if not outcome.passed:
            raise CaseFailed(inert(case_block(outcome)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The case's report, not a traceback."""
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        from baton.sessions.cases import CaseInvalid

        if isinstance(excinfo.value, CaseInvalid):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the case is, for pytest's report."""
        return self.path, 0, f"baton case {self.name}"
