"""astream: progress events in order, ending with the answer."""

from thinkfast.orchestrator import Answer, astream, athink


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
