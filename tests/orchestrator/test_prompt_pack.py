"""PromptPack: roles as data (both file shapes, a missing role, default roles), and reading
answers, verdicts and choices, including decisions read from a check."""

from __future__ import annotations

import json

import pytest
from thinkfast.orchestrator.prompt_pack import PromptPack, PromptPackError, RolePrompt
from thinkfast.orchestrator.roster import default_pack

ROLE = {"template": "{question}", "raw": True}
BASE = {
    "name": "t",
    "draft": ROLE,
    "critique": ROLE,
    "judge": ROLE,
    "refine": ROLE,
    "answer_pattern": r"Answer: (?P<answer>-?\d+)",
    "verdict_pattern": r"Verdict: (?P<verdict>correct|wrong)",
    "approve_pattern": "correct",
    "choice_pattern": r"Choice: (?P<choice>[AB])",
}
CHECKS = {
    "verdict_check_pattern": r"Got: (?P<got>-?\d+), claimed: (?P<claimed>-?\d+|none)",
    "choice_check_pattern": r"Got: (?P<got>-?\d+), A: (?P<a>-?\d+|none), B: (?P<b>-?\d+|none)",
}


def test_plain_patterns_read_the_written_words():
    pack = PromptPack.model_validate(BASE)
    assert pack.parse_verdict("Got: 5, claimed: 6\nVerdict: correct") is True
    assert pack.parse_choice("Got: 5, A: 4, B: 5\nChoice: A") == 0
    assert pack.parse_verdict("no verdict here") is None


def test_check_patterns_decide_by_comparing_what_the_model_wrote():
    pack = PromptPack.model_validate({**BASE, **CHECKS})
    # the words after the check are overruled by the check itself
    assert pack.parse_verdict("Got: 1184, claimed: 1194\nVerdict: correct") is False
    assert pack.parse_verdict("Got: 1184, claimed: 1184.0\nVerdict: wrong") is True  # normalised
    assert pack.parse_verdict("Got: 7, claimed: none\nVerdict: correct") is False
    assert pack.parse_choice("Got: 5, A: 4, B: 5\nChoice: A") == 1
    assert pack.parse_choice("Got: 4, A: 4, B: 5\nChoice: B") == 0
    # a check that decides nothing falls back to the written choice
    assert pack.parse_choice("Got: 9, A: 4, B: 5\nChoice: B") == 1
    assert pack.parse_choice("Got: 4, A: 4, B: 4\nChoice: B") == 1
    # no check written: the plain pattern
    assert pack.parse_verdict("Verdict: wrong") is False


@pytest.mark.parametrize(
    ("field", "pattern", "missing"),
    [
        ("verdict_check_pattern", r"Got: (?P<got>\d+)", "claimed"),
        ("choice_check_pattern", r"Got: (?P<got>\d+), A: (?P<a>\d+)", "b"),
    ],
)
def test_a_check_pattern_without_its_groups_is_refused(tmp_path, field, pattern, missing):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({**BASE, field: pattern}))
    with pytest.raises(PromptPackError, match=f"\\(\\?P<{missing}>"):
        PromptPack.from_file(path)


def test_both_file_shapes_load_the_same_pack(tmp_path):
    roles = {k: BASE[k] for k in ("draft", "critique", "judge", "refine")}
    settings = {k: v for k, v in BASE.items() if k not in roles}
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({**settings, "roles": roles}))
    assert PromptPack.from_file(path) == PromptPack.model_validate(BASE)
    assert sorted(PromptPack.model_validate(BASE).roles) == ["critique", "draft", "judge", "refine"]


def test_a_misspelt_setting_is_not_taken_for_a_role(tmp_path):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({**BASE, "answer_patern": "x"}))
    with pytest.raises(PromptPackError, match="answer_patern"):
        PromptPack.from_file(path)


def test_a_missing_role_names_the_role_the_pack_and_its_roles():
    pack = PromptPack.model_validate(BASE)
    with pytest.raises(PromptPackError) as info:
        pack.render("aggregate", question="1+1")
    assert str(info.value) == (
        "prompt pack 't' has no role 'aggregate'; it has: critique, draft, judge, refine"
    )


def test_default_roles_fill_a_chat_pack_but_not_a_raw_one():
    extra = {"polish": RolePrompt(template="Polish: {question}")}
    chat = default_pack()
    assert chat.takes_default_roles and not chat.has_role("polish")
    filled = chat.with_defaults({**extra, "draft": RolePrompt(template="ignored")})
    assert filled.role("polish").template == "Polish: {question}"
    assert filled.role("draft") == chat.role("draft")  # the pack's own prompt wins
    raw = PromptPack.model_validate(BASE)  # every role raw: a model's own formats
    assert not raw.takes_default_roles and raw.with_defaults(extra) is raw
    opted_in = raw.model_copy(update={"accepts_default_roles": True})
    assert opted_in.with_defaults(extra).has_role("polish")


def test_role_names_are_identifiers():
    with pytest.raises(ValueError, match="lower_snake_case"):
        PromptPack.model_validate({**BASE, "roles": {"Draft Two": ROLE}})
