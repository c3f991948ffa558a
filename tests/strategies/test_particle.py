"""`particle` on the shipped model with the equation verifier: identical particles share
one request (n samples), every step is one call, resampling is seeded."""

import pytest
from thinkfast.orchestrator import StrategyConfigError, athink


async def test_particle_filtering_answers_and_batches_each_step(engine, pack):
    answer = await athink(
        "936*22",
        "particle",
        engine,
        pack=pack,
        verifier="equations",
        delimiter=", ",
        particles=6,
        seed=2,
    )
    assert answer.answer is not None
    expands = [c for c in answer.calls if c.node == "expand"]
    resamples = [d for d in answer.decisions if d.kind == "resample"]
    assert len(expands) == len(resamples) >= 2
    assert expands[0].requests == 1 and expands[0].samples == 6  # all from the empty pad
    assert all(c.samples <= 6 for c in expands)
    assert answer.usage.total.total_tokens == sum(c.total_tokens for c in answer.calls)
    assert answer.decisions[-1].kind == "particle"


async def test_same_seed_same_search(engine, pack):
    options = dict(pack=pack, verifier="equations", delimiter=", ", particles=4, seed=5)
    a = await athink("(94-39)*22", "particle", engine, **options)
    b = await athink("(94-39)*22", "particle", engine, **options)
    assert [c.text for c in a.candidates] == [c.text for c in b.candidates]


async def test_options_are_validated(engine):
    with pytest.raises(StrategyConfigError, match="option 'particles'.*greater than or equal to 1"):
        await athink("1+1", "particle", engine, particles=0)
    with pytest.raises(StrategyConfigError, match="option 'floor'.*less than or equal to 1"):
        await athink("1+1", "particle", engine, floor=2)
