"""PromptPack reading: answers, verdicts and choices, including decisions read from a check."""

from __future__ import annotations

import json

import pytest
from thinkfast.orchestrator.prompt_pack import PromptPack, PromptPackError

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
