"""`moa`: proposers spread over several engines and temperatures (one call per engine per
layer), the aggregate role or the vote decides; a pack lacking `aggregate` is named."""

import pytest
from thinkfast.engine.local import LocalEngine
from thinkfast.orchestrator import PromptPackError, RolePrompt, StrategyConfigError, athink

# arith-tiny v2's aggregate format (engine/models/arith-tiny gets it with the v2 weights)
AGGREGATE = RolePrompt(
    template="Q: {question}\nAnswers: {answers}\nBest: ", raw=True, max_tokens=12
)


@pytest.fixture(scope="module")
def second_engine():
    return LocalEngine("arith-tiny", hardware=("cs3", "h100"))


async def test_one_layer_over_two_engines_by_vote(engine, second_engine, quick_pack):
    answer = await athink(
        "58+67",
        "moa",
        engine,
        pack=quick_pack,
        engines={"draft": [engine, second_engine]},
        layers=1,
        proposers=4,
        temperatures=[0.3, 0.9],
        aggregator="vote",
        seed=1,
    )
    layer = [c for c in answer.calls if c.node == "layer-1"]
    assert len(layer) == 2 and {c.engine for c in layer} == {"arith-tiny", "arith-tiny#2"}
    assert all(c.requests == 2 and c.samples == 2 for c in layer)  # one request per temperature
    assert len(answer.candidates) == 4
    assert answer.decisions[-1].kind == "vote"


async def test_two_layers_and_the_aggregator(engine, quick_pack):
    pack = quick_pack.with_roles({"aggregate": AGGREGATE})
    answer = await athink("58+67", "moa", engine, pack=pack, layers=2, proposers=3, seed=2)
    nodes = [(c.node, c.role, c.after) for c in answer.calls]
    assert nodes == [
        ("layer-1", "draft", []),
        ("layer-2", "aggregate", [1]),
        ("aggregate", "aggregate", [2]),
    ]
    assert answer.calls[1].samples == 3
    assert answer.decisions[-1].kind in ("aggregate", "vote")  # vote: the aggregate was unreadable
    assert answer.usage.total.total_tokens == sum(c.total_tokens for c in answer.calls)


async def test_the_models_own_aggregator(engine, pack):
    # arith-tiny v2 plays the aggregate role: it reads the proposals' answers, writes one
    answer = await athink("(94-39)*22", "moa", engine, pack=pack, layers=2, proposers=4, seed=3)
    assert [c.node for c in answer.calls] == ["layer-1", "layer-2", "aggregate"]
    assert answer.decisions[-1].kind == "aggregate"
    assert answer.answer == answer.candidates[-1].answer is not None


async def test_a_pack_without_aggregate_says_which_packs_have_it(engine, pack):
    lacking = pack.model_copy(
        update={"roles": {k: v for k, v in pack.roles.items() if k != "aggregate"}}
    )
    with pytest.raises(
        PromptPackError, match="no role 'aggregate'.*Packs that have 'aggregate': default-chat"
    ):
        await athink("58+67", "moa", engine, pack=lacking)


async def test_options_are_validated(engine):
    with pytest.raises(StrategyConfigError, match="option 'layers'.*less than or equal to 6"):
        await athink("1+1", "moa", engine, layers=7)
    with pytest.raises(StrategyConfigError, match="option 'aggregator'.*one of 'model', 'vote'"):
        await athink("1+1", "moa", engine, aggregator="judge")
