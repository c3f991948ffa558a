"""think() inside a running event loop says to await athink instead."""

import pytest

from thinkfast import RunningLoopError, ThinkfastError, think


async def test_think_inside_a_running_loop_is_its_own_error(engine):
    with pytest.raises(RunningLoopError, match=r"await athink\(") as caught:
        think("12+34", "single", engine)
    assert isinstance(caught.value, ThinkfastError)


def test_think_outside_a_loop_answers(engine):
    answer = think("12+34", "single", engine)
    assert answer.answer is not None and answer.calls[0].ok
