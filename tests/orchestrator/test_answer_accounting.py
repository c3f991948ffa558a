"""Every Answer's totals equal the sums over its ledger, for every strategy (real engine)."""

import json

import pytest
from thinkfast.orchestrator import Answer, athink

QUESTION = "347*29"

CONFIGS = [
    ("single", {}),
    ("best_of_n", {"n": 4, "selector": "vote"}),
    ("best_of_n", {"n": 4, "selector": "judge"}),
    ("best_of_n", {"n": 3, "selector": "score"}),
    ("best_of_n", {"n": 4, "selector": "logprob", "prompts": ["draft", "draft_direct"]}),
    ("self_refine", {"max_rounds": 1, "accept": "always"}),
]


@pytest.mark.parametrize(("strategy", "options"), CONFIGS, ids=[f"{s}-{o}" for s, o in CONFIGS])
async def test_totals_equal_the_sums_of_the_calls(engine, quick_pack, strategy, options):
    answer = await athink(QUESTION, strategy, engine, pack=quick_pack, seed=0, **options)
    calls = answer.calls
    assert calls, "every strategy makes at least one engine call"
    total = answer.usage.total
    assert total.calls == len(calls)
    assert total.prompt_tokens == sum(c.prompt_tokens for c in calls)
    assert total.completion_tokens == sum(c.completion_tokens for c in calls)
    assert total.total_tokens == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    for key in ("calls", "prompt_tokens", "completion_tokens", "total_tokens"):
        assert getattr(total, key) == sum(getattr(u, key) for u in answer.usage.by_role.values())
    assert {c.role for c in calls} == set(answer.usage.by_role)

    latency = answer.latency
    assert latency.sum_of_calls_s == pytest.approx(sum(c.wall_s for c in calls))
    assert latency.critical_path_s <= latency.sum_of_calls_s + 1e-12
    assert latency.critical_path_s <= latency.wall_s
    assert latency.engine_busy_s <= latency.wall_s
    assert set(latency.emulated) == {"cs3", "h100"}
    for profile, emulated in latency.emulated.items():
        assert emulated.sum_of_calls_s == pytest.approx(sum(c.emulated[profile] for c in calls))
        assert 0 < emulated.critical_path_s <= emulated.sum_of_calls_s + 1e-12
        assert total.emulated[profile] == pytest.approx(emulated.sum_of_calls_s)

    # the Answer is JSON and comes back equal
    again = Answer.model_validate_json(answer.model_dump_json())
    assert again == answer
    json.loads(answer.model_dump_json())


async def test_parallel_prompt_branches_overlap_on_the_critical_path(engine, quick_pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=4,
        selector="vote",
        prompts=["draft", "draft_direct"],
        seed=1,
    )
    drafts = [c for c in answer.calls if c.node == "draft"]
    assert len(drafts) == 2 and {c.branch for c in drafts} == {"draft", "draft_direct"}
    assert all(c.after == [] for c in drafts)  # neither waits on the other
    for profile in ("cs3", "h100"):
        emulated = answer.latency.emulated[profile]
        assert emulated.critical_path_s == pytest.approx(max(c.emulated[profile] for c in drafts))
        assert emulated.sum_of_calls_s == pytest.approx(sum(c.emulated[profile] for c in drafts))


async def test_a_judge_waits_on_the_drafts_it_compares(engine, quick_pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=4,
        selector="judge",
        temperature=1.5,
        seed=3,
    )
    draft_ids = {c.id for c in answer.calls if c.role == "draft"}
    judges = [c for c in answer.calls if c.role == "judge"]
    for judge in judges:
        assert draft_ids & set(judge.after)
    path = answer.latency.critical_path_s
    assert path == pytest.approx(sum(c.wall_s for c in answer.calls))  # strictly sequential here
