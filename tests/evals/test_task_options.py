"""Task options are converted to the types the factory annotates, or refused by name."""

import pytest
from thinkfast.evals.errors import TaskError
from thinkfast.evals.task import _typed_options, get_task


def test_options_take_the_annotated_types():
    assert len(get_task("arith-1", size="3")) == 3  # "-T size=3" read as text still works

    def factory(path: str = "q.jsonl", size: int = 3, tol: float = 0.0):
        raise AssertionError("not called")

    assert _typed_options("t", factory, {"path": 2024, "size": "5", "tol": 1}) == {
        "path": "2024",  # `-T path=2024` parses as a number; a text option takes it as text
        "size": 5,
        "tol": 1.0,
    }


def test_a_value_of_the_wrong_type_names_the_option_and_its_type():
    with pytest.raises(TaskError, match=r"task 'arith-2' option start='x' must be of type int"):
        get_task("arith-2", start="x")
