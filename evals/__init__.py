"""thinkfast.evals: tasks, graders, the runner, statistics, reports and `thinkfast eval`.

Library use mirrors the CLI:

    task = get_task("arith-2")
    configs = expand_grid(["single", "best_of_n"], ["n=1,4,16"], fields_of=...)
    result = await run_eval(task, configs, athink_solver(engine), log_dir="logs/x", model="arith-tiny")
    print(render_table(summarize(result.header, result.records)))
"""

from .errors import DatasetFormatError, EvalError, GraderError, LogError, SweepError, TaskError
from .graders import GRADERS, Grade, Grader, get_grader
from .log import read_log
from .report import ConfigSummary, RunSummary, render_markdown, render_table, summarize
from .runner import RunResult, athink_solver, run_eval
from .stats import Estimate, clustered_mean, coverage_at_k, maj_at_k, paired_difference, pass_at_k
from .sweep import Config, expand_grid
from .task import EvalSample, Task, get_task, list_tasks, register_task

__all__ = [
    "Config",
    "ConfigSummary",
    "DatasetFormatError",
    "Estimate",
    "EvalError",
    "EvalSample",
    "GRADERS",
    "Grade",
    "Grader",
    "GraderError",
    "LogError",
    "RunResult",
    "RunSummary",
    "SweepError",
    "Task",
    "TaskError",
    "athink_solver",
    "clustered_mean",
    "coverage_at_k",
    "expand_grid",
    "get_grader",
    "get_task",
    "list_tasks",
    "maj_at_k",
    "paired_difference",
    "pass_at_k",
    "read_log",
    "register_task",
    "render_markdown",
    "render_table",
    "run_eval",
    "summarize",
]
