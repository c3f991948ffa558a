"""thinkfast.evals: tasks, graders, the runner, statistics, reports and `thinkfast eval`."""
