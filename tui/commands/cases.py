"""`baton test save ID` and `baton test [PATHS…]`: sessions as regression tests.

`baton test` with no subcommand (or with paths) replays cases, so the common case reads as it runs
in CI: `baton test`, `baton test baton-tests/brief.jsonl --json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from baton.tui.commands.common import application, fail, run

DEFAULT_DIR = "baton-tests"
EXIT = """\b
Exit codes: 0 every case passed · 1 a case failed or diverged · 2 invalid input
"""


class _CasesGroup(click.Group):
    """A group whose default subcommand is `run`: `baton test PATHS…` replays them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("test", cls=_CasesGroup, epilog=EXIT)
def cases() -> None:
    """Sessions as regression tests: `save` one, then replay every case at $0 (`baton test [PATHS…]`)."""


@cases.command("save")
@click.argument("session")
@click.option("--name", help="The case's name (default: the workflow's name and the session id).")
@click.option("--dir", "folder", default=DEFAULT_DIR, show_default=True, help="Where case files are kept.")
@click.option("--force", is_flag=True, help="Replace a case file of that name.")
@click.pass_context
def save(ctx: click.Context, session: str, name: str | None, folder: str, force: bool) -> None:
    """Save finished session SESSION as a case file (FOLDER/NAME.jsonl): its answers, tool results,
    decisions and what it did, with secrets redacted."""

    async def go() -> int:
        from baton.sessions.cases import NotSaveable, case_from_session, write_case

        async with application(ctx) as app:
            opened = await app.open(session)
            envelopes = await app.events(opened.session_id)
        view = opened.view
        case_name = name or f"{view.workflow or 'session'}-{view.session_id[:8]}"
        if not case_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            fail(f"case name '{case_name}': use letters, digits, '-', '_' and '.'")
        target = Path(folder) / f"{case_name}.jsonl"
        if target.exists() and not force:
            fail(f"{target}: a case of that name exists (--force replaces it)")
        try:
            case = case_from_session(view, envelopes, case_name, target)
        except NotSaveable as exc:
            fail(str(exc))
        try:
            write_case(case, target)
        except OSError as exc:
            fail(f"{target}: cannot write: {exc.strerror or exc}")
        click.echo(
            f"saved {target}: {len(case.answers)} answers, {len(case.tools)} tool results, "
            f"{len(case.decisions)} decisions, {len(case.expect.steps)} steps"
        )
        return 0

    run(go())


@cases.command("run", epilog=EXIT)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--live", is_flag=True, help="Call the model for a request a case has no answer for, and record it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a case.")
@click.option("--workflow", metavar="FILE", help="Test against FILE instead of the workflow each case names.")
def replay_cases(paths: tuple[str, ...], live: bool, as_json: bool, workflow: str | None) -> None:
    """Replay the cases in PATHS (files or folders; default baton-tests/) against the current workflow."""
    run(_replay(paths or (DEFAULT_DIR,), live, as_json, workflow))


async def _replay(paths: tuple[str, ...], live: bool, as_json: bool, workflow: str | None) -> int:
    from baton.core.config import ConfigInvalid, load_config
    from baton.core.jsonout import dumps
    from baton.sessions.cases import CaseInvalid, read_case, replay
    from baton.sessions.cases.replay import load_case_workflow
    from baton.sessions.cases.report import case_block, summary
    from baton.tui.sanitize import inert

    files = case_files(paths)
    try:
        settings = load_config()
        cases_read = [read_case(f) for f in files]
        workflows = [load_case_workflow(c, settings, workflow) for c in cases_read]
    except (CaseInvalid, ConfigInvalid) as exc:
        fail(inert(str(exc)))
    llm: Any = None
    if live:
        from baton.core.llm.gateway import LiteLLMGateway

        llm = LiteLLMGateway()
    outcomes = []
    for case, wf in zip(cases_read, workflows, strict=True):
        outcome = await replay(case, live=live, llm=llm, config=settings, workflow=wf)
        outcomes.append(outcome)
        click.echo(dumps(outcome.record()) if as_json else inert(case_block(outcome)))
    if not as_json:
        click.echo(summary(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


def case_files(paths: tuple[str, ...]) -> list[Path]:
    """The case files named: each file as given, and in each folder every `.jsonl` file (at any depth)
    whose first line is a case header. Nothing found is invalid input."""
    from baton.sessions.cases import is_case_file

    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.jsonl") if p.is_file() and is_case_file(p))
        elif path.exists():
            found.append(path)
        else:
            hint = " (save a case with `baton test save ID`)" if given == DEFAULT_DIR else ""
            fail(f"{given}: no such file or folder{hint}")
    if not found:
        fail(f"no case files in {', '.join(paths)} (save one with `baton test save ID`)")
    return found
