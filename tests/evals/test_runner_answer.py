"""The runner reads the solver's typed Answer: its figures land in the record as they are,
and a solver returning anything else is an error of that unit, not a row of zeros."""

from thinkfast.evals.runner import athink_solver, run_eval
from thinkfast.evals.sweep import expand_grid
from thinkfast.evals.task import get_task


async def test_a_record_carries_the_answers_own_figures(engine, tmp_path):
    answers = []
    solve = athink_solver(engine)

    async def keep(question, config, seed):
        answers.append(await solve(question, config, seed))
        return answers[-1]

    result = await run_eval(
        get_task("arith-1", size=1),
        expand_grid(["best_of_n:n=2"]),
        keep,
        log_dir=tmp_path,
        model="arith-tiny",
        progress=False,
    )
    (record,), (answer,) = result.records, answers
    assert record.answer == answer.answer and record.text == answer.text
    assert record.tokens == answer.usage.total.total_tokens > 0
    assert record.usage["draft"]["completion_tokens"] == (
        answer.usage.by_role["draft"].completion_tokens
    )
    assert record.latency["critical_path_s"] == answer.latency.critical_path_s
    assert record.latency["emulated"]["h100"]["critical_path_s"] == (
        answer.latency.emulated["h100"].critical_path_s
    )
    assert [c["id"] for c in record.candidates] == [c.id for c in answer.candidates]


async def test_a_solver_that_returns_no_answer_is_an_error_of_its_unit(tmp_path):
    async def untyped(question, config, seed):
        return {"text": "42", "answer": "42"}

    result = await run_eval(
        get_task("arith-1", size=2),
        expand_grid(["single"]),
        untyped,
        log_dir=tmp_path,
        model="none",
        progress=False,
    )
    assert result.errors == 2
    for record in result.records:
        assert record.error["type"] == "EvalError"
        assert (
            "the solver returned dict; a solver must return a thinkfast Answer"
            in (record.error["message"])
        )
