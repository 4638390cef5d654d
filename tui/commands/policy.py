"""`baton policy`: approval rules learned from the decisions people made at tool-call checkpoints.

`suggest` reads every person's decision on a tool call in the store and proposes rules with their
evidence; `accept` (optionally with an edited pattern) writes one into the config file, where sessions
started from then on apply it; `dismiss` remembers a proposal is unwanted; `revoke` takes a rule out;
`list` shows the rules in the config file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from baton.tui.commands.common import application, fail, run

if TYPE_CHECKING:
    from baton.core.config import Config
    from baton.core.policy.suggest import Proposals

MIN_HELP = "Consistent approvals a rule needs at least."


@click.group()
def policy() -> None:
    """Approval rules from your decisions: suggest, accept, dismiss, revoke, list."""


@policy.command()
@click.option("--min", "minimum", type=click.IntRange(min=1), default=5, show_default=True, help=MIN_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def suggest(ctx: click.Context, minimum: int, as_json: bool) -> None:
    """Propose approval rules from the decisions made on tool calls in the store, with their evidence."""

    async def go() -> int:
        from baton.core.jsonout import dumps
        from baton.sessions.policy import read_proposals

        config = _config()
        async with application(ctx) as app:
            _, found = await read_proposals(app.store, config, minimum)
        if as_json:
            click.echo(
                dumps(
                    {
                        "min": minimum,
                        "decisions": found.decisions,
                        "suggestions": [s.to_json() for s in found.suggestions],
                        "held_back": [h.to_json() for h in found.held_back],
                    }
                )
            )
        else:
            _print_proposals(found, minimum)
        return 0

    run(go())


@policy.command()
@click.argument("suggestion")
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="ARG=GLOB",
    help="Accept it with this pattern instead (repeatable; no pattern given: as proposed).",
)
@click.option("--min", "minimum", type=click.IntRange(min=1), default=5, show_default=True, help=MIN_HELP)
@click.pass_context
def accept(ctx: click.Context, suggestion: str, patterns: tuple[str, ...], minimum: int) -> None:
    """Accept the proposed rule SUGGESTION (its id from `baton policy suggest`): sessions started from now
    on approve the calls it matches without asking."""

    async def go() -> int:
        import datetime

        from baton.core.config import save_rule
        from baton.core.policy.suggest import accepted
        from baton.sessions.app import user_name
        from baton.sessions.policy import read_proposals
        from baton.tui.sanitize import inert
        from baton.tui.tool_checkpoint import parse_pattern

        config = _config()
        async with application(ctx) as app:
            seen, found = await read_proposals(app.store, config, minimum)
        chosen = found.find(suggestion)
        if chosen is None:
            fail(f"no proposed rule '{inert(suggestion)}' (baton policy suggest lists them)")
        at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        try:
            rule = accepted(seen, chosen, parse_pattern(patterns) if patterns else None, user_name(), at)
        except ValueError as exc:
            fail(f"--pattern: {inert(exc)}")
        save_rule(rule, config.path)
        click.echo(f"accepted rule {rule.id}: approve {inert(rule.scope())} without asking")
        click.echo("sessions started from now on apply it; baton policy revoke " + rule.id + " takes it back")
        return 0

    run(go())


@policy.command()
@click.argument("suggestion")
@click.option("--min", "minimum", type=click.IntRange(min=1), default=5, show_default=True, help=MIN_HELP)
@click.pass_context
def dismiss(ctx: click.Context, suggestion: str, minimum: int) -> None:
    """Dismiss the proposed rule SUGGESTION: it is not proposed again."""

    async def go() -> int:
        from baton.core.config import save_dismissed
        from baton.sessions.policy import read_proposals
        from baton.tui.sanitize import inert

        config = _config()
        async with application(ctx) as app:
            _, found = await read_proposals(app.store, config, minimum)
        chosen = found.find(suggestion)
        if chosen is None:
            fail(f"no proposed rule '{inert(suggestion)}' (baton policy suggest lists them)")
        save_dismissed([*config.dismissed, chosen.id], config.path)
        click.echo(f"dismissed {chosen.id}: {inert(chosen.describe())} will not be proposed again")
        return 0

    run(go())


@policy.command()
@click.argument("rule")
def revoke(rule: str) -> None:
    """Take the accepted rule RULE out of the config file: sessions started from now on ask again (a
    session already running keeps the rules it started with)."""
    from baton.core.config import remove_rule
    from baton.tui.sanitize import inert

    config = _config()
    ids = [r.id for r in config.rules if r.id.startswith(rule)] if rule else []
    if len(ids) != 1:
        known = ", ".join(r.id for r in config.rules) or "none"
        what = "matches several rules" if ids else "is not an accepted rule"
        fail(f"'{inert(rule)}' {what} (rules: {known})")
    remove_rule(ids[0], config.path)
    click.echo(f"revoked rule {ids[0]}: its calls ask again in sessions started from now on")


@policy.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_rules(as_json: bool) -> None:
    """The accepted approval rules in the config file."""
    from baton.core.jsonout import dumps
    from baton.tui.sanitize import inert

    config = _config()
    if as_json:
        rules = [
            {**r.record(), "evidence": r.evidence, "accepted_by": r.accepted_by, "accepted_at": r.accepted_at}
            for r in config.rules
        ]
        click.echo(dumps({"config": str(config.path), "rules": rules, "dismissed": config.dismissed}))
        return
    if not config.rules:
        click.echo(f"no approval rules in {config.path} (baton policy suggest proposes some)")
    for r in config.rules:
        origin = f" from {inert(r.origin)}" if r.origin else ""
        click.echo(f"{r.id}  approve {inert(r.scope())}{origin}")
        if r.evidence:
            click.echo(f"          {inert(r.evidence)}")
        if r.accepted_by or r.accepted_at:
            click.echo(f"          accepted by {inert(r.accepted_by or '?')} {inert(r.accepted_at)}".rstrip())
    if config.dismissed:
        click.echo(f"{len(config.dismissed)} dismissed proposal(s) are not proposed again")


# --- helpers -----------------------------------------------------------------------------------------


def _config() -> Config:
    from baton.core.config import ConfigInvalid, load_config

    try:
        return load_config()
    except ConfigInvalid as exc:
        fail(str(exc))


def _print_proposals(found: Proposals, minimum: int) -> None:
    from baton.tui.sanitize import inert

    plural = "s" * (found.decisions != 1)
    if not found.suggestions:
        click.echo(
            f"no rule to propose from {found.decisions} decision{plural} on tool calls "
            f"(a rule needs {minimum} consistent approvals)"
        )
    else:
        count = len(found.suggestions)
        click.echo(f"{count} proposed rule{'s' * (count != 1)} from {found.decisions} decision{plural} on tool calls:")
    for s in found.suggestions:
        click.echo("")
        click.echo(f"  {s.id}  approve {inert(s.describe())} without asking")
        click.echo(f"            {inert(s.evidence)}")
        if s.origin:
            click.echo(f"            tool from {inert(s.origin)}")
        click.echo(f"            baton policy accept {s.id} [--pattern ARG=GLOB]  ·  baton policy dismiss {s.id}")
    if found.held_back:
        click.echo("")
        click.echo("not proposed:")
        for h in found.held_back:
            click.echo(f"  {inert(h.tool)}: {inert(h.why)}")
