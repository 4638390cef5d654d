"""`baton lessons`: what reviewers said when they rejected a step's answers, kept per workflow step.

`baton lessons [FLOW]` lists them; `edit`, `rm` and `add` change them for everyone using the store. A step
with `learn: true` gets its lessons in its system prompt in sessions started from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from baton.tui.commands.common import application, fail, run

if TYPE_CHECKING:
    from baton.core.learn.lessons import Lesson


class _ListOrCommand(click.Group):
    """`baton lessons [FLOW]` lists; `baton lessons edit|rm|add …` changes. A first word that names no
    subcommand is the workflow to list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = list(args)
        for i, arg in enumerate(rest):
            if arg.startswith("-"):
                continue
            if arg not in self.commands:
                ctx.meta["lessons_flow"] = rest.pop(i)
            break
        return super().parse_args(ctx, rest)


@click.group(cls=_ListOrCommand, invoke_without_command=True, subcommand_metavar="[FLOW] | COMMAND [ARGS]...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--all", "show_removed", is_flag=True, help="List removed lessons too.")
@click.pass_context
def lessons(ctx: click.Context, as_json: bool, show_removed: bool) -> None:
    """Lessons from reviewers' feedback, per workflow step (of FLOW, or of every workflow).

    A rejection with feedback becomes a lesson of its step; a step with `learn: true` gets its lessons in
    its system prompt in later sessions.
    """
    if ctx.invoked_subcommand is not None:
        return
    flow: str | None = ctx.meta.get("lessons_flow")

    async def go() -> int:
        from baton.core.jsonout import dumps
        from baton.sessions.lessons import lessons as listed

        async with application(ctx) as app:
            found = await listed(app.store, flow, deleted=show_removed)
        if as_json:
            click.echo(dumps({"workflow": flow, "lessons": [lesson.record() for lesson in found]}))
        else:
            _print(found, flow)
        return 0

    run(go())


@lessons.command()
@click.argument("lesson_id", metavar="ID")
@click.argument("text")
@click.pass_context
def edit(ctx: click.Context, lesson_id: str, text: str) -> None:
    """Give lesson ID a new TEXT (sessions started from now on use it)."""

    async def go() -> int:
        from baton.sessions.app import user_name
        from baton.sessions.errors import StoreError
        from baton.sessions.lessons import edit_lesson

        async with application(ctx) as app:
            try:
                lesson = await edit_lesson(app.store, lesson_id, text, user_name())
            except StoreError as exc:
                fail(str(exc))
        click.echo(f"edited {lesson.id} ({_where(lesson)}): {_text(lesson)}")
        return 0

    run(go())


@lessons.command(name="rm")
@click.argument("lesson_id", metavar="ID")
@click.pass_context
def remove(ctx: click.Context, lesson_id: str) -> None:
    """Remove lesson ID: sessions started from now on no longer get it (the feedback stays recorded)."""

    async def go() -> int:
        from baton.sessions.app import user_name
        from baton.sessions.errors import StoreError
        from baton.sessions.lessons import remove_lesson

        async with application(ctx) as app:
            try:
                lesson = await remove_lesson(app.store, lesson_id, user_name())
            except StoreError as exc:
                fail(str(exc))
        click.echo(f"removed {lesson.id} ({_where(lesson)})")
        return 0

    run(go())


@lessons.command()
@click.argument("flow")
@click.argument("step")
@click.argument("text")
@click.pass_context
def add(ctx: click.Context, flow: str, step: str, text: str) -> None:
    """Add a lesson of your own to STEP of workflow FLOW (a step path without item or iteration marks,
    e.g. `refine/write`; checked against the workflow of FLOW's newest session, when the store has one)."""

    async def go() -> int:
        from baton.core.learn.lessons import template
        from baton.sessions.app import user_name
        from baton.sessions.errors import StoreError
        from baton.sessions.lessons import add_lesson

        async with application(ctx) as app:
            known = await _known_steps(app.store, flow)
            at = template(step)
            if known is not None and at not in known:
                fail(f"workflow '{flow}' has no step '{at}' (steps: {', '.join(sorted(known))})")
            try:
                lesson = await add_lesson(app.store, flow, at, text, user_name())
            except StoreError as exc:
                fail(str(exc))
        click.echo(f"added {lesson.id} ({_where(lesson)}): {_text(lesson)}")
        return 0

    run(go())


# --- helpers -----------------------------------------------------------------------------------------


async def _known_steps(store: Any, flow: str) -> set[str] | None:
    """The step templates of the newest session of `flow` in the store (None when it has none)."""
    from baton.core.learn.lessons import step_templates
    from baton.core.spec.load import load_text
    from baton.core.spec.problems import WorkflowInvalid

    for row in await store.sessions(500):
        if row.workflow == flow:
            try:
                return set(step_templates(load_text(row.workflow_text, row.workflow_path).spec))
            except WorkflowInvalid:
                return None
    return None


def _where(lesson: Lesson) -> str:
    from baton.tui.sanitize import one_line

    return one_line(f"{lesson.workflow} · {lesson.step}", 80)


def _text(lesson: Lesson, width: int = 200) -> str:
    from baton.tui.sanitize import one_line

    return one_line(lesson.text, width)


def _print(found: list[Lesson], flow: str | None) -> None:
    from baton.tui.sanitize import one_line

    if not found:
        where = f" for '{one_line(flow, 60)}'" if flow else ""
        click.echo(f"no lessons{where} yet: a rejection with feedback at a review becomes one")
        return
    current = None
    for lesson in found:
        if (lesson.workflow, lesson.step) != current:
            current = (lesson.workflow, lesson.step)
            click.echo(("" if lesson is found[0] else "\n") + _where(lesson))
        origin = "added" if lesson.source == "added" else "from session " + lesson.source.split(":")[0]
        marks = [origin, f"by {one_line(lesson.by, 30)}" if lesson.by else ""]
        marks += ["edited" if lesson.edited else "", "removed" if lesson.deleted else ""]
        click.echo(f"  {lesson.id}  {_text(lesson, 100)}")
        click.echo(f"            {' · '.join(m for m in marks if m)}")
