"""How the offline model answers a router: a small, deterministic classifier instead of a coin toss.

A greeting, a sum or a short definition ("what is a heat pump?") is simple; an open topic or a research
question ("heat pumps in cold climates", "the economics of grid storage", anything asking why or how) is
complex. Routes are matched by what their labels and descriptions say (`simple: quick_answer — Answer a
simple question directly` leans simple, `complex: research — Three researchers…` leans complex); a route
named outright in the request (`billing` in "a billing question") wins. The same request always takes the
same route, so demos and tests can rely on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

COMPLEX_AT = 4
"""Complexity score from which a request is treated as research-style."""

_WORD = re.compile(r"[a-z][a-z'\-]*")
_ROUTE_LINE = re.compile(r"^- (?P<label>[^:\n]+): (?P<target>\S+)(?: — (?P<description>.*))?$", re.MULTILINE)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|thanks|thank you|thx|cheers|good (?:morning|afternoon|evening)|ok|okay|yes|no|bye)\b"
    r"[\s!.,?a-z]{0,20}$"
)
_SUM = re.compile(r"^(?:what(?:'s| is)\s+)?[\d\s+\-*/().=?^%x×÷]+$")
_DEFINITION = re.compile(
    r"^(?:what(?:'s| is| are| was)|who(?:'s| is| was| are)|define|meaning of|where is|when (?:is|was))\b"
)
_STOP = frozenset(
    """a an the of for in on at to and or but with about into from by as is are was were be been being do does
    did can could should would will shall may might must this that these those it its i me my we our you your
    they them their he she his her what which who whom whose how why when where there here please tell me
    explain give some any all more most very just so than then also not no yes if whether need needs have has
    had question questions know want like get got""".split()  # noqa: SIM905 - a word list reads better as text
)
_RESEARCH = (
    "econom",
    "impact",
    "compar",
    "versus",
    "trade",
    "pros",
    "cons",
    "evidence",
    "future",
    "trend",
    "polic",
    "market",
    "analy",
    "effect",
    "risk",
    "benefit",
    "climat",
    "storage",
    "strateg",
    "histor",
    "regulat",
    "cost",
    "efficien",
    "performance",
    "adoption",
    "outlook",
    "implication",
    "challenge",
    "research",
    "stud",
    "review",
    "design",
    "architect",
    "security",
    "scal",
    "sustainab",
    "safety",
    "reliab",
)
_LEANS_SIMPLE = ("simple", "quick", "short", "easy", "basic", "brief", "small", "trivial", "direct", "faq", "cheap")
_LEANS_COMPLEX = (
    "complex",
    "hard",
    "research",
    "expert",
    "deep",
    "detail",
    "thorough",
    "full",
    "escalat",
    "strong",
    "long",
    "analy",
    "careful",
    "senior",
    "investigat",
    "difficult",
)


@dataclass(frozen=True)
class Route:
    """A route as the router's system prompt lists it."""

    label: str
    target: str = ""
    description: str = ""

    def lean(self) -> int:
        """Above 0 for a route meant for hard requests, below 0 for easy ones, 0 for a topical route."""
        score = 0
        for weight, text in ((2, self.label), (1, f"{self.target} {self.description}")):
            for word in _WORD.findall(text.lower().replace("_", " ")):
                score += weight * (_matches(word, _LEANS_COMPLEX) - _matches(word, _LEANS_SIMPLE))
        return score


def route_reply(labels: Sequence[str], system: str, user: str) -> dict[str, str]:
    """The router's reply `{route, reason}`: the route that fits how much work the request needs."""
    routes = _routes(labels, system)
    subject = request_subject(user)
    words = _WORD.findall(subject.lower())
    named = [r for r in routes if r.lean() == 0 and r.label.lower() in words]
    if named:
        return {"route": named[0].label, "reason": f"the request is about {named[0].label}"}
    score, why = complexity(subject)
    complex_request = score >= COMPLEX_AT
    ordered = sorted(enumerate(routes), key=lambda ir: (-ir[1].lean() if complex_request else ir[1].lean(), ir[0]))
    chosen = ordered[0][1]
    if complex_request:
        reason = f"{why}: it needs more than a quick answer"
    else:
        reason = f"{why}: a short, direct answer will do"
    return {"route": chosen.label, "reason": reason}


def request_subject(user: str) -> str:
    """What the request is about: the values a template put after its own question (`How much work does
    this need? heat pumps…`), else the first input appended under `## Inputs`, else the first line."""
    head, _, inputs = user.partition("## Inputs")
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    tail = re.match(r"^[^?:]*[?:]\s+(\S.*)$", first)
    if tail:
        return tail.group(1).strip()
    values = [line.strip() for line in inputs.splitlines() if line.strip() and not line.startswith("###")]
    return values[0] if values else first


def complexity(subject: str) -> tuple[int, str]:
    """A score (at least COMPLEX_AT: research-style) and the words that explain it."""
    text = " ".join(subject.lower().split()).strip(" .!?")
    words = _WORD.findall(text)
    content = [w for w in words if w not in _STOP and len(w) > 2]
    if _SUM.match(text):
        return 0, "a calculation"
    if not content or _GREETING.match(text):
        return 0, "a greeting, not a question to research"
    cues = [w for w in content if _matches(w, _RESEARCH)]
    score = len(content) + 2 * len(cues)
    if words[0] in ("why", "how") or "compare" in words or " vs" in f" {text}":
        score += 2
    if _DEFINITION.match(text) and len(content) <= 3:
        score -= 4
        return score, f"a definition of '{' '.join(content)}'"
    about = f"'{text[:60]}'" + ("…" if len(text) > 60 else "")
    if score >= COMPLEX_AT:
        return score, f"an open research question ({about})"
    return score, f"a narrow question ({about})"


def _routes(labels: Sequence[str], system: str) -> list[Route]:
    described = {m["label"].strip(): m for m in _ROUTE_LINE.finditer(system)}
    out = []
    for label in labels:
        found = described.get(label)
        out.append(Route(label, found["target"], found["description"] or "") if found else Route(label))
    return out


def _matches(word: str, stems: Sequence[str]) -> int:
    return 1 if any(word.startswith(stem) for stem in stems) else 0
