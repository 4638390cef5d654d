"""Values as text and the decision words, without a terminal: what the Review screen and line mode share."""

from __future__ import annotations

from typing import Any

import pytest

from baton.core.view import CheckpointView
from baton.tui import decisions
from baton.tui.line import ask
from baton.tui.values import ValueInvalid, document, fields_for, parse_document, parse_yaml, yaml_text

DRAFT = "## Brief\n\nFirst paragraph.\n\nSecond paragraph."


def checkpoint(reason: str, **fields: Any) -> CheckpointView:
    base: dict[str, Any] = {
        "checkpoint_id": f"x:{reason}:1",
        "step": "x",
        "reason": reason,
        "message": "",
        "output": None,
        "reasoning": "",
        "context": {},
        "options": ["approve", "edit", "reject", "pause"],
        "targets": [],
        "forecasts": {},
        "round": 1,
        "opened_seq": 1,
        "opened_at": 0.0,
    }
    base.update(fields)
    return CheckpointView(**base)


def test_strings_are_text_and_the_rest_is_yaml() -> None:
    fields = fields_for({"draft": DRAFT, "tags": ["grid", "storage"], "count": 3, "note": None}, {"note": "str"})
    assert [(f.label, f.text) for f in fields] == [
        ("draft", DRAFT),
        ("tags (YAML)", "- grid\n- storage"),
        ("count (YAML)", "3"),
        ("note", ""),
    ]
    assert fields[1].parse("- grid\n- wind") == ["grid", "wind"]
    assert fields[1].parse('["a", "b"]') == ["a", "b"], "JSON is YAML too"
    assert yaml_text({"text": "two\nlines"}) == "text: |-\n  two\n  lines"


def test_yaml_that_does_not_parse_says_where() -> None:
    with pytest.raises(ValueInvalid, match=r"^tags: line 2, column 1: .* \(YAML\)$"):
        parse_yaml("- a\n[b", "tags")


def test_several_values_in_one_file_one_section_each() -> None:
    fields = fields_for({"draft": DRAFT, "tags": ["a"]})
    text = document(fields)
    assert "=== draft ===\n" + DRAFT in text and "=== tags (YAML) ===\n- a" in text
    assert parse_document(fields, text) == {"draft": DRAFT, "tags": "- a"}
    edited = text.replace("Second paragraph.", "Changed.")
    assert parse_document(fields, edited)["draft"].endswith("Changed.")
    with pytest.raises(ValueInvalid, match="line 1: unknown section 'drafts'"):
        parse_document(fields, "=== drafts ===\nx\n")
    one = fields_for({"draft": DRAFT})
    assert document(one) == DRAFT, "one value is just its text"


def test_a_gate_edits_its_values_as_text_and_sends_only_what_changed() -> None:
    cp = checkpoint("gate", context={"reads": {"draft": DRAFT, "notes": ["a", "b"]}})
    text = decisions.editable_text(cp)
    assert "{" not in text and "\\n" not in text
    changed, payload = decisions.parse_edit(cp, text.replace("First paragraph.", "First, edited."))
    assert changed and payload == {"draft": DRAFT.replace("First paragraph.", "First, edited.")}
    assert decisions.parse_edit(cp, text) == (False, {})
    legacy = '{"draft": "from a JSON file"}'
    assert decisions.edited_value(cp, legacy) == {"draft": "from a JSON file"}, "baton decide --edited FILE.json"
    single = checkpoint("gate", context={"reads": {"draft": DRAFT}})
    assert decisions.editable_text(single) == DRAFT
    assert decisions.parse_edit(single, "New text.") == (True, {"draft": "New text."})


def test_text_outputs_prompts_and_structured_outputs_keep_their_shape() -> None:
    text_output = checkpoint("review", output=DRAFT)
    assert decisions.parse_edit(text_output, DRAFT + " More.\n") == (True, DRAFT + " More.\n")
    prompt = checkpoint("step_mode", context={"prompt": "Write {topic}"})
    assert decisions.parse_edit(prompt, "Write shorter") == (True, "Write shorter")
    structured = checkpoint("review", output={"category": "bug", "confidence": 0.5})
    text = decisions.editable_text(structured)
    assert "=== category ===\nbug" in text and "=== confidence (YAML) ===\n0.5" in text
    changed, payload = decisions.parse_edit(structured, text.replace("0.5", "0.9"))
    assert changed and payload == {"category": "bug", "confidence": 0.9}, "a structured output is sent whole"


def test_a_tool_approval_shows_its_arguments_once_labelled_arguments() -> None:
    args = {"text": "Hello,\nworld", "words": 2}
    cp = checkpoint("before_tool", output=args, context={"args": args, "side_effects": True})
    titles = [s.title for s in decisions.sections(cp)]
    assert titles.count("arguments") == 1 and "output" not in titles
    body = next(s.text for s in decisions.sections(cp) if s.title == "arguments")
    assert body == "text: |-\n  Hello,\n  world\nwords: 2"
    assert decisions.option_label("approve", cp) == "run" and decisions.option_label("edit", cp) == "edit arguments"


def test_line_mode_choices_are_the_review_screens() -> None:
    cp = checkpoint("step_mode", options=["approve", "edit", "skip", "pause"])
    assert ask.choice_hint(cp, 1, {}) == "[a] run  [e] edit prompt  [s] skip  [p] pause  [esc] later"
    assert ask.choice_hint(cp, 3, {}).endswith("[n] next  [1-3] pick  [esc] later")
    assert ask.read_choice(ask.LATER, cp, 1, {}) == "later", "the escape key"
    assert ask.read_choice("later", cp, 1, {}) == "later"
    assert ask.read_choice("l", cp, 1, {}) == "", "no [l] any more: esc, as on the full screen"
    assert ask.read_choice("a", cp, 1, {}) == "approve" and ask.read_choice("run", cp, 1, {}) == "approve"
    assert ask.read_choice("2", cp, 3, {}) == "pick:1" and ask.read_choice("n", cp, 3, {}) == "next"
    remapped = {"review.approve": "y", "review.later": "x"}
    assert ask.choice_hint(cp, 1, remapped) == "[y] run  [e] edit prompt  [s] skip  [p] pause  [x] later"
    assert ask.read_choice("y", cp, 1, remapped) == "approve" and ask.read_choice("x", cp, 1, remapped) == "later"
