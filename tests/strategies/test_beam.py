"""`beam` on the shipped model with the programmatic equation verifier: each step's
partial solutions are ONE engine call, the accounting adds up, bad options and packs are
clear errors before any call."""

import pytest
from thinkfast.orchestrator import PromptPackError, StrategyConfigError, athink


async def test_beam_search_answers_with_one_call_per_step(engine, pack):
    answer = await athink(
        "(79+66)*4",
        "beam",
        engine,
        pack=pack,
        verifier="equations",
        delimiter=", ",
        width=2,
        expansions=2,
        seed=1,
    )
    assert answer.answer == "580"
    steps = [d for d in answer.decisions if d.kind == "beam_step"]
    expands = [c for c in answer.calls if c.node == "expand"]
    assert len(expands) == len(steps) >= 2
    assert expands[0].requests == 1 and expands[0].samples == 4  # width * expansions
    assert all(c.requests <= 2 and c.samples <= 4 for c in expands[1:])
    # every step waits on the step before it
    assert all(
        later.after == [earlier.id] for earlier, later in zip(expands, expands[1:], strict=False)
    )
    total = answer.usage.total
    assert total.total_tokens == sum(c.total_tokens for c in answer.calls)
    assert sum(r.total_tokens for r in answer.usage.by_role.values()) == total.total_tokens
    assert answer.latency.critical_path_s <= answer.latency.sum_of_calls_s + 1e-9
    assert all(c.scores for c in answer.candidates)


async def test_the_pack_delimiter_is_used_when_no_option_overrides_it(engine, pack):
    stepped = pack.model_copy(update={"step_delimiter": ", "})
    answer = await athink(
        "58+67", "beam", engine, pack=stepped, verifier="equations", width=1, expansions=2, seed=1
    )
    assert answer.answer is not None


async def test_a_pack_without_a_step_delimiter_is_a_clear_error(engine, pack):
    with pytest.raises(StrategyConfigError, match="defines no step_delimiter"):
        unstepped = pack.model_copy(update={"step_delimiter": None})  # arith-tiny declares ", "
        await athink("58+67", "beam", engine, pack=unstepped, verifier="equations")


async def test_the_models_step_verifier_scores_each_step_in_one_call(engine, pack):
    # arith-tiny v2 plays verify_step: every step is one drafting call and one verifier call
    answer = await athink(
        "(94-39)*22",
        "beam",
        engine,
        pack=pack,
        verifier="step",
        delimiter=", ",
        width=2,
        expansions=2,
        seed=3,
    )
    assert answer.answer is not None
    expands = [c for c in answer.calls if c.node == "expand"]
    verifies = [c for c in answer.calls if c.role == "verify_step"]
    assert len(verifies) >= len(expands) - 1 >= 1  # a step that only finished is verified too
    assert all(v.after == [e.id] for e, v in zip(expands, verifies, strict=False))
    assert expands[1].after == [verifies[0].id]  # the next step waits on the scores
    assert (
        sum(r.total_tokens for r in answer.usage.by_role.values())
        == answer.usage.total.total_tokens
    )


async def test_a_pack_lacking_the_step_verifier_is_named_before_any_call(engine, pack):
    lacking = pack.model_copy(
        update={"roles": {k: v for k, v in pack.roles.items() if k != "verify_step"}}
    )
    before = len(engine.batch_log)
    with pytest.raises(PromptPackError) as info:
        await athink("58+67", "beam", engine, pack=lacking, delimiter=", ")  # verifier="step"
    assert "has no role 'verify_step'" in str(info.value)
    assert "Packs that have 'verify_step': default-chat" in str(info.value)
    assert len(engine.batch_log) == before


@pytest.mark.parametrize(
    ("option", "value", "accepted"),
    [
        ("width", 0, "greater than or equal to 1"),
        ("expansions", 99, "less than or equal to 32"),
        ("temperature", -1, "greater than or equal to 0"),
        ("verifier", "oracle", "accepted: critic"),
    ],
)
async def test_bad_options_say_what_is_accepted(engine, option, value, accepted):
    with pytest.raises(StrategyConfigError, match=accepted):
        await athink("58+67", "beam", engine, **{option: value})
