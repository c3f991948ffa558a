"""astream: progress events in order, ending with the answer."""

import asyncio
import contextlib

from thinkfast.engine.remote import OpenAIEngine
from thinkfast.orchestrator import Answer, astream, athink
from thinkfast_tests_fault_server import FaultServer, Hang

QUESTION = "58+67"


async def test_events_follow_the_graph_and_end_with_the_answer(engine, quick_pack):
    events = [
        e
        async for e in astream(
            "58+67",
            "best_of_n",
            engine,
            pack=quick_pack,
            n=3,
            selector="judge",
            temperature=1.5,
            seed=9,
        )
    ]
    kinds = [e.kind for e in events]
    assert kinds[0] == "node_started" and events[0].node == "draft"
    assert kinds[-1] == "answer"
    assert kinds.count("candidate") == 3
    assert kinds.count("call_started") == kinds.count("call_finished")
    assert all(a.t <= b.t for a, b in zip(events, events[1:], strict=False))
    started = [e.node for e in events if e.kind == "node_started"]
    finished = [e.node for e in events if e.kind == "node_finished"]
    assert sorted(started) == sorted(finished)
    final = events[-1]
    assert isinstance(final.result, Answer)
    assert final.data == {"text": final.result.text, "answer": final.result.answer}
    if "judge" in started:
        assert "choice" in kinds


async def test_streamed_and_awaited_answers_agree(engine, quick_pack):
    streamed = [e async for e in astream("58+67", "single", engine, pack=quick_pack)][-1].result
    awaited = await athink("58+67", "single", engine, pack=quick_pack)
    assert streamed.text == awaited.text
    assert streamed.usage.total.total_tokens == awaited.usage.total.total_tokens


async def test_a_consumer_that_stops_early_cancels_the_pending_engine_call():
    # The fault server holds the call open and records a client that gives up on it.
    async with FaultServer([Hang(30)]) as fault:
        engine = OpenAIEngine("fault-model", base_url=fault.base_url)
        before = asyncio.all_tasks()
        stream = astream(QUESTION, "single", engine)
        async with contextlib.aclosing(stream):
            async for event in stream:
                if event.kind == "call_started":
                    while fault.in_flight == 0:  # the call has reached the server
                        await asyncio.sleep(0.01)
                    break
        # closed means closed: no node or engine-call task of the run is left running
        running = [t.get_coro().__qualname__ for t in asyncio.all_tasks() - before if not t.done()]
        assert [name for name in running if not name.startswith("FaultServer.")] == []
        await asyncio.wait_for(fault.hung_up.wait(), timeout=10)
        await engine.aclose()
    assert fault.abandoned == [1]
