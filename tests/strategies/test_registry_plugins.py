"""The registry: built-ins through entry points, @register_strategy, an installed plugin
distribution found by name, graphs cached per configuration and embeddable."""

import importlib
import sys
import textwrap
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from langgraph.graph import END, START, StateGraph
from thinkfast.orchestrator import GraphState, RunContext, UnknownStrategyError, athink, run_context
from thinkfast.orchestrator import strategy as registry
from thinkfast.strategies import (
    Strategy,
    available_strategies,
    builtin_strategies,
    get_strategy,
    register_strategy,
)

from thinkfast import strategies as strategies_package

PLUGIN = textwrap.dedent(
    '''
    """A plugin strategy: one thinking draft and one direct draft, the likelier one wins."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    from thinkfast.orchestrator import GraphState, RunContext
    from thinkfast.orchestrator.nodes import draft, node
    from thinkfast.orchestrator.selection import select_logprob
    from thinkfast.strategies import Strategy


    class ThinkOrBlurt(Strategy):
        name = "think_or_blurt"
        summary = "a worked draft and a direct one; the likelier wins"

        def build_graph(self):
            @node("draft")
            async def one(task, ctx):
                return await draft(task, ctx)

            @node("pick")
            async def pick(state, ctx):
                best, decision = select_logprob(state["candidates"])
                return {"selected": best.id, "decisions": [decision]}

            async def fan_out(state):
                return [
                    Send("draft", {"question": state["question"], "role": role, "n": 1, "branch": role, "after": []})
                    for role in ("draft", "draft_direct")
                ]

            graph = StateGraph(GraphState, context_schema=RunContext)
            graph.add_node("draft", one)
            graph.add_node("pick", pick)
            graph.add_conditional_edges(START, fan_out, ["draft"])
            graph.add_edge("draft", "pick")
            graph.add_edge("pick", END)
            return graph
    '''
)


@pytest.fixture
def plugin_dist(install_plugin):
    install_plugin("tf_plugin_blurt", PLUGIN, "think_or_blurt = tf_plugin_blurt:ThinkOrBlurt")


async def test_an_installed_plugin_runs_by_name(plugin_dist, engine, quick_pack):
    assert available_strategies()["think_or_blurt"] == "tf_plugin_blurt:ThinkOrBlurt"
    # it declares no roles, so engines= may name any role it will ask for
    answer = await athink(
        "58+67", "think_or_blurt", engine, pack=quick_pack, engines={"draft_direct": engine}
    )
    assert answer.strategy == "think_or_blurt"
    assert {c.source for c in answer.candidates} == {"draft", "draft_direct"}
    assert answer.decisions[-1].kind == "logprob"
    assert get_strategy("think_or_blurt").summary.startswith("a worked draft")


def test_the_plugin_is_not_imported_until_asked_for(plugin_dist):
    assert "think_or_blurt" in available_strategies()
    assert "tf_plugin_blurt" not in sys.modules


def _pyproject_strategies() -> dict[str, str]:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return dict(project["entry-points"]["thinkfast.strategies"])


def _strategy_classes_in_the_package() -> dict[str, str]:
    """name -> 'module:Class' for every Strategy subclass defined in a strategies/ module."""
    folder = Path(strategies_package.__file__).parent
    found = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem in ("__init__", "cli"):
            continue
        module = importlib.import_module(f"thinkfast.strategies.{path.stem}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Strategy)
                and obj.__module__ == module.__name__
                and obj.name  # a nameless class is a base others build on
            ):
                found[obj.name] = f"{module.__name__}:{obj.__qualname__}"
    return found


def test_every_builtin_is_an_entry_point_declared_in_pyproject():
    declared = _pyproject_strategies()
    defined = _strategy_classes_in_the_package()
    missing = {name: target for name, target in defined.items() if declared.get(name) != target}
    assert not missing, f"strategies without their entry point in pyproject.toml: {missing}"
    assert builtin_strategies() == declared  # read from pyproject or the installed metadata
    for name in declared:
        assert get_strategy(name).name == name
    installed = {ep.name: ep.value for ep in entry_points(group="thinkfast.strategies")}
    if installed:  # an editable install older than pyproject.toml: reinstall (pip install -e .)
        assert {k: installed.get(k) for k in declared} == declared


def test_register_strategy_decorator(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_strategy(name="greedy_twice")
    class GreedyTwice(get_strategy("best_of_n")):
        pass

    assert get_strategy("greedy_twice") is GreedyTwice
    assert "greedy_twice" in available_strategies()
    with pytest.raises(TypeError):
        register_strategy(int)


def test_unknown_name_is_a_typed_error():
    with pytest.raises(UnknownStrategyError, match="unknown strategy 'nope'"):
        get_strategy("nope")


def test_compiled_graphs_are_cached_per_configuration():
    best_of_n = get_strategy("best_of_n")
    assert best_of_n(n=4).graph is best_of_n(n=4).graph
    assert best_of_n(n=4).graph is not best_of_n(n=8).graph
    assert best_of_n(selector="judge").graph is not best_of_n(selector="vote").graph
    assert isinstance(best_of_n(), Strategy)


async def test_a_strategy_graph_embeds_as_a_subgraph(engine, quick_pack):
    thinking = get_strategy("best_of_n")(n=3, selector="vote").graph

    async def shout(state: GraphState):
        chosen = next(c for c in state["candidates"] if c.id == state["selected"])
        return {"question": f"{state['question']} -> {chosen.answer}"}

    app = StateGraph(GraphState, context_schema=RunContext)
    app.add_node("think", thinking)
    app.add_node("shout", shout)
    app.add_edge(START, "think")
    app.add_edge("think", "shout")
    app.add_edge("shout", END)
    ctx = run_context(engine, pack=quick_pack, seed=1)
    out = await app.compile().ainvoke({"question": "58+67"}, context=ctx)
    assert out["question"].startswith("58+67 -> ")
    assert len(out["candidates"]) == 3
    assert len(ctx.ledger) == 1 and ctx.ledger.calls[0].samples == 3
