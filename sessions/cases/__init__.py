"""Sessions as regression tests: a recorded session saved as a case file, replayed at $0 against the
current workflow, its trajectory and final state compared with what was recorded."""

from baton.sessions.cases.casefile import Case, CaseInvalid, is_case_file, read_case, write_case
from baton.sessions.cases.replay import Outcome, replay
from baton.sessions.cases.save import NotSaveable, case_from_session

__all__ = [
    "Case",
    "CaseInvalid",
    "NotSaveable",
    "Outcome",
    "case_from_session",
    "is_case_file",
    "read_case",
    "replay",
    "write_case",
]
