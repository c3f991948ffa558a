"""Warnings on the Answer, once per query: a role whose replies the pack cannot read (a
model asked with a pack written for another), and a question not of the kind the model
was trained on (arith-tiny's pack declares its question format)."""

import pytest
from thinkfast.orchestrator import PromptPack, astream, athink, default_pack

QUESTION = "58+67"
JUDGE = dict(n=4, selector="judge", temperature=1.2, seed=5)


@pytest.fixture(scope="module")
def foreign_pack(pack):
    """The model's prompts with the judge's reading written for another model: a choice
    pattern its replies never match (as a chat pack's would on a model trained otherwise)."""
    return pack.model_copy(
        update={
            "name": "written-for-another-model",
            "choice_pattern": r"FINAL CHOICE: (?P<choice>[AB])",
            "choice_check_pattern": None,
        }
    )


async def test_unreadable_judge_replies_are_said_once(engine, foreign_pack):
    # (the default chat pack constrains its judge's output, so it reads even arith-tiny's
    # replies; a pack whose patterns do not fit is the case to warn about)
    answer = await athink(QUESTION, "best_of_n", engine, pack=foreign_pack, **JUDGE)
    judged = [c for c in answer.calls if c.role == "judge"]
    assert judged, "the drafts disagreed on nothing: no judge call to read"
    (warning,) = [w for w in answer.warnings if w.startswith("judge")]
    assert "no choice that pack 'written-for-another-model' could read" in warning
    replies = sum(c.requests for c in judged)  # one reply per match order, none read
    assert "--pack" in warning and f"— {replies} of {replies} this query" in warning
    matches = [d for d in answer.decisions if d.kind == "match"]
    assert matches and all(d.tie for d in matches)  # every match undecided, and labelled
    own = await athink(QUESTION, "best_of_n", engine, **JUDGE)  # the model's own pack
    assert not [w for w in own.warnings if w.startswith("judge")]


async def test_the_warning_is_streamed_before_the_answer(engine, foreign_pack):
    kinds = []
    async for event in astream(QUESTION, "best_of_n", engine, pack=foreign_pack, **JUDGE):
        kinds.append(event.kind)
    assert kinds[-1] == "answer" and kinds[-2] == "warning"


async def test_spaces_are_dropped_from_a_question_arith_tiny_reads(engine):
    plain = await athink("347*29", "single", engine)
    spaced = await athink("347 * 29", "single", engine)
    assert spaced.question == "347 * 29" and spaced.warnings == []
    assert spaced.text == plain.text  # asked exactly as "347*29"


async def test_a_question_arith_tiny_cannot_read_is_answered_with_a_warning(engine):
    answer = await athink("What is 347*29?", "single", engine)
    (warning,) = answer.warnings
    assert warning.startswith("arith-tiny reads plain arithmetic expressions like 347*29")
    assert "'What is 347*29?', asked as given" in warning


def test_question_format_in_a_pack():
    base = default_pack().model_dump()
    form = {"remove": r"\s+", "pattern": r"[0-9+*]+", "hint": "plain sums"}
    pack = PromptPack.model_validate({**base, "question_format": form})
    assert pack.prepare_question(" 1 + 2 ") == ("1+2", None)
    asked, warning = pack.prepare_question("one plus two")
    assert asked == "one plus two" and warning.startswith("plain sums — got 'one plus two'")
    assert default_pack().prepare_question("one plus two") == ("one plus two", None)
    with pytest.raises(ValueError, match="invalid regular expression"):
        PromptPack.model_validate({**base, "question_format": {**form, "pattern": "("}})
