"""How replayed cases are reported: one block a case (its verdict line, then what differs or the
request diff where it diverged) and a summary line. Plain text; a terminal viewer makes it inert."""

from __future__ import annotations

from collections.abc import Sequence

from baton.sessions.cases.replay import Outcome

VERDICTS = {"pass": "PASS", "fail": "FAIL", "diverged": "DIVERGED"}


def case_block(outcome: Outcome) -> str:
    """One case: `PASS name (path) · …`, or its findings, or where it diverged and the request diff."""
    head = f"{VERDICTS.get(outcome.verdict, outcome.verdict.upper()):<9}{outcome.name}"
    if outcome.verdict == "diverged":
        head += f" at {outcome.step}" if outcome.step else " at the start"
    facts = [outcome.path] if outcome.path else []
    facts += [f"{outcome.steps} steps", f"{outcome.served} answers replayed", f"{outcome.model_calls} model calls"]
    if outcome.recorded:
        facts.append(f"{outcome.recorded} answers recorded")
    facts.append(f"{outcome.seconds:.2f}s")
    lines = [f"{head} · " + " · ".join(facts)]
    if outcome.workflow_changed and not outcome.passed:
        lines.append("  the workflow file changed since the case was recorded")
    if outcome.why:
        lines.append(f"  {outcome.why}")
    lines += [f"  {finding}" for finding in outcome.findings]
    lines += [f"  note: {note}" for note in outcome.notes]
    if outcome.diff:
        lines += ["  " + line for line in outcome.diff.splitlines()]
    return "\n".join(lines)


def summary(outcomes: Sequence[Outcome]) -> str:
    """`3 cases: 2 passed, 1 diverged · 0 model calls`."""
    counts = {v: sum(1 for o in outcomes if o.verdict == v) for v in VERDICTS}
    words = {"pass": "passed", "fail": "failed", "diverged": "diverged"}
    parts = [f"{n} {words[v]}" for v, n in counts.items() if n or v == "pass"]
    calls = sum(o.model_calls for o in outcomes)
    noun = "case" if len(outcomes) == 1 else "cases"
    return f"{len(outcomes)} {noun}: " + ", ".join(parts) + f" · {calls} model calls"
