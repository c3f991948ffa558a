"""Summaries from hand-built logs: accuracy, paired deltas, marginal gains, coverage, errors."""

import math

import pytest
from thinkfast.evals.errors import LogError
from thinkfast.evals.log import Header, Record, RunSpec
from thinkfast.evals.plot import pareto_frontier
from thinkfast.evals.report import render_markdown, render_table, summarize

CONFIGS = [
    {"id": "c0", "strategy": "single", "options": {}},
    {"id": "c1", "strategy": "best_of_n", "options": {"n": 4}},
]


def header(epochs=1, samples=("a", "b", "c", "d")):
    spec = RunSpec(task="t", sample_ids=list(samples), configs=CONFIGS, model="m", epochs=epochs)
    return Header(spec=spec, created="now")


def rec(
    config, sample, correct, tokens, emu, epoch=0, answer=None, candidates=(), error=None, level=1
):
    return Record(
        config=config,
        sample_id=sample,
        epoch=epoch,
        seed=0,
        target="1",
        answer=answer if answer is not None else ("1" if correct else "2"),
        correct=correct,
        tokens=tokens,
        usage={
            "draft": {
                "prompt_tokens": tokens // 2,
                "completion_tokens": tokens // 2,
                "total_tokens": tokens,
            }
        },
        latency={
            "wall_s": 0.1,
            "critical_path_s": 0.05,
            "sum_of_calls_s": 0.05,
            "emulated": {"cs3": {"critical_path_s": emu, "sum_of_calls_s": emu}},
        },
        candidates=list(candidates),
        error=error,
        metadata={"level": level},
    )


def cands(*flags):
    return [{"answer": "1" if f else "2", "correct": f} for f in flags]


def records():
    return [
        rec("c0", "a", True, 100, 0.01, level=1),
        rec("c0", "b", False, 100, 0.01, level=1),
        rec("c0", "c", False, 100, 0.01, level=2),
        rec("c0", "d", False, 100, 0.01, level=2),
        rec("c1", "a", True, 500, 0.03, candidates=cands(1, 1, 0, 0), level=1),
        rec("c1", "b", True, 500, 0.03, candidates=cands(1, 0, 0, 0), level=1),
        rec("c1", "c", True, 500, 0.03, candidates=cands(1, 1, 1, 0), level=2),
        rec("c1", "d", False, 500, 0.03, candidates=cands(0, 0, 0, 0), level=2),
    ]


def test_accuracy_delta_and_marginal_gains():
    s = summarize(header(), records())
    base, best = s.configs
    assert s.baseline == "single" and s.profiles == ["cs3"]
    assert base.accuracy.mean == 0.25 and best.accuracy.mean == 0.75
    assert base.vs_baseline is None
    assert best.vs_baseline.mean == pytest.approx(0.5)
    # diffs 0,1,1,0 -> sd .57735 / 2
    assert best.vs_baseline.se == pytest.approx(0.5773502691896257 / 2)
    # +50 points for 400 extra tokens -> 125 points per 1k; for 0.02 extra emulated s -> 2500/s
    assert best.points_per_1k_tokens == pytest.approx(125.0)
    assert best.points_per_emulated_s["cs3"] == pytest.approx(2500.0)
    assert base.points_per_1k_tokens is None
    assert best.tokens_by_role["draft"]["total_tokens"] == 500
    assert best.by_level == {"1": 1.0, "2": 0.5}


def test_coverage_and_vote_over_drafts():
    best = summarize(header(), records()).configs[1]
    # coverage@1 = mean fraction correct = (2 + 1 + 3 + 0) / 16
    assert best.coverage_at_k[1] == pytest.approx(6 / 16)
    # coverage@4: any correct in a, b, c; none in d
    assert best.coverage_at_k[4] == pytest.approx(0.75)
    # coverage@2 for b (n=4,c=1): 1 - C(3,2)/C(4,2) = .5; a: 1 - 1/6; c: 1; d: 0
    assert best.coverage_at_k[2] == pytest.approx((5 / 6 + 0.5 + 1 + 0) / 4)
    # maj@4: a tie 2-2 -> .5, b wrong majority -> 0, c right -> 1, d -> 0
    assert best.candidate_maj_at_k[4] == pytest.approx((0.5 + 0 + 1 + 0) / 4)


def test_errors_are_counted_and_left_out():
    recs = records() + [rec("c1", "a", None, 0, 0.0, error={"type": "EngineError", "message": "x"})]
    # a later error does not replace a success of the same unit
    assert summarize(header(), recs).configs[1].errors == 0
    recs = [r for r in records() if not (r.config == "c1" and r.sample_id == "d")]
    recs.append(rec("c1", "d", None, 0, 0.0, error={"type": "EngineError", "message": "x"}))
    best = summarize(header(), recs).configs[1]
    assert best.errors == 1 and best.samples == 3 and best.accuracy.mean == 1.0
    assert best.vs_baseline.n == 3  # paired on the samples both have


def test_epochs_give_pass_at_k_and_clustered_interval():
    h = header(epochs=2, samples=("a", "b"))
    recs = [
        rec("c0", "a", True, 100, 0.01, epoch=0),
        rec("c0", "a", False, 100, 0.01, epoch=1, answer="3"),
        rec("c0", "b", False, 100, 0.01, epoch=0),
        rec("c0", "b", False, 100, 0.01, epoch=1),
    ]
    base = summarize(h, recs).configs[0]
    assert base.accuracy.mean == 0.25 and base.accuracy.n == 2
    assert base.pass_at_k == {1: 0.25, 2: 0.5}
    # a: answers 1 (right) and 3 tie -> .5 at k=2; b: 0
    assert base.maj_at_k[2] == pytest.approx(0.25)


def test_baseline_choice_and_unknown_baseline():
    s = summarize(header(), records(), baseline="best_of_n")
    assert s.configs[0].vs_baseline.mean == pytest.approx(-0.5)
    assert s.configs[0].points_per_1k_tokens is None  # fewer tokens than the baseline
    with pytest.raises(LogError, match="baseline 'x' is not a configuration.*c0=single"):
        summarize(header(), records(), baseline="x")


def test_tables_render_every_configuration():
    s = summarize(header(), records())
    text = render_table(s)
    assert "single" in text and "best_of_n(n=4)" in text
    assert "75.0 [30.1, 95.4]" in text and "+50.0 [-1.9, +73.6]" in text  # Wilson, Newcombe
    md = render_markdown(s)
    assert md.splitlines()[0].startswith("| config | n | acc % [95% CI] |")
    assert "L1:50 L2:0" in md


def test_pareto_frontier():
    points = [(100, 50), (200, 40), (300, 70), (400, 70), (50, 10), (math.nan, 99)]
    assert pareto_frontier(points) == [4, 0, 2]


def test_plot_groups_sweeps_into_curves(tmp_path):
    from thinkfast.evals.plot import _series, plot_summary

    s = summarize(header(), records())
    s.configs[1].options = {"n": 4, "selector": "vote"}
    assert _series(s) == {"single": [(0, "")], "best_of_n selector=vote (n)": [(1, "4")]}
    out = plot_summary(s, tmp_path / "p.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
