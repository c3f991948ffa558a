"""A strategy that adds a role is one module plus its entry point: the module ships the
role's default template, packs that take defaults use it, a pack's own template wins, and
a pack that takes none (the shipped model's) is a clear error before any engine call."""

import textwrap

import pytest
from thinkfast.orchestrator import PromptPackError, RolePrompt, athink

PLUGIN = textwrap.dedent(
    '''
    """A plugin strategy with a role of its own: a greedy draft and a direct one, then a
    `recheck` role (new) reads both and the approved one wins."""
    from typing import Annotated

    from langgraph.graph import END, START, StateGraph

    from thinkfast.orchestrator import GraphState, RolePrompt, RunContext
    from thinkfast.orchestrator.nodes import critique_all, draft_once, node
    from thinkfast.orchestrator.selection import select_by_score
    from thinkfast.orchestrator.state import last_value
    from thinkfast.strategies import Strategy


    class RecheckState(GraphState, total=False):
        rechecked: Annotated[bool, last_value]


    class Recheck(Strategy):
        name = "recheck"
        summary = "a worked and a direct draft; a recheck role picks the approved one"
        # written in the shipped model's check format, so a pack of that model can take it
        default_prompts = {
            "recheck": RolePrompt(
                template="Q: {question}\\nWork: {candidate}\\nCheck: ", raw=True, max_tokens=200
            )
        }

        def roles(self):
            return ("draft", "draft_direct", "recheck")

        def build_graph(self):
            @node("draft")
            async def drafts(state, ctx):
                worked = await draft_once(state, ctx, mode="think", temperature=0.0)
                direct = await draft_once(state, ctx, mode="direct", temperature=0.0)
                return {"candidates": worked["candidates"] + direct["candidates"],
                        "calls": worked["calls"] + direct["calls"]}

            @node("recheck")
            async def recheck(state, ctx):
                update, checked = await critique_all(
                    state["question"], state["candidates"], ctx, "recheck", role="recheck"
                )
                best, decision = select_by_score(checked, "recheck")
                return {**update, "selected": best.id, "decisions": [decision], "rechecked": True}

            graph = StateGraph(RecheckState, context_schema=RunContext)
            graph.add_node("draft", drafts)
            graph.add_node("recheck", recheck)
            graph.add_edge(START, "draft")
            graph.add_edge("draft", "recheck")
            graph.add_edge("recheck", END)
            return graph
    '''
)


@pytest.fixture
def recheck_plugin(install_plugin):
    install_plugin("tf_plugin_recheck", PLUGIN, "recheck = tf_plugin_recheck:Recheck")


async def test_a_pack_without_the_role_is_a_clear_error_before_any_call(
    recheck_plugin, engine, pack
):
    before = len(engine.batch_log)
    with pytest.raises(PromptPackError) as info:
        await athink("58+67", "recheck", engine)
    message = str(info.value)
    assert "prompt pack 'arith-tiny' has no role 'recheck'" in message
    assert f"it has: {', '.join(sorted(pack.roles))}" in message and "draft" in pack.roles
    assert "default template for it is not used" in message  # and why not
    assert len(engine.batch_log) == before


async def test_the_strategy_default_template_fills_the_role(recheck_plugin, engine, quick_pack):
    takes_defaults = quick_pack.model_copy(update={"accepts_default_roles": True})
    assert not takes_defaults.has_role("recheck")
    answer = await athink("58+67", "recheck", engine, pack=takes_defaults)
    assert [(c.role, c.node) for c in answer.calls] == [
        ("draft", "draft"),
        ("draft_direct", "draft"),
        ("recheck", "recheck"),
    ]
    recheck = answer.calls[-1]
    assert recheck.requests == 2 and recheck.after == [1, 2]
    assert all(len(c.critiques) == 1 for c in answer.candidates)
    assert answer.decisions[-1].kind == "recheck"
    assert "recheck" in answer.usage.by_role


async def test_a_packs_own_template_for_the_role_wins(recheck_plugin, engine, quick_pack):
    own = RolePrompt(template="Q: {question}\nWork: {candidate}\nCheck: ", raw=True, max_tokens=3)
    pack = quick_pack.with_roles({"recheck": own})
    answer = await athink("58+67", "recheck", engine, pack=pack)
    recheck = answer.calls[-1]
    assert recheck.role == "recheck" and 0 < recheck.completion_tokens <= 2 * 3
