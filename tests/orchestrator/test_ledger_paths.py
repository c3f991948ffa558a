"""Ledger arithmetic on hand-built call DAGs: sums, critical paths, busy time."""

import pytest
from thinkfast.orchestrator import Call, Ledger


def call(id, role, wall, after=(), start=0.0, cs3=0.0, tokens=(10, 5)):
    return Call(
        id=id,
        role=role,
        node=role,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        wall_s=wall,
        start_s=start,
        end_s=start + wall,
        emulated={"cs3": cs3},
        after=list(after),
    )


def test_parallel_branches_overlap_on_the_critical_path():
    # two drafts in parallel (1 and 2), a judge (3) waiting on both, a refine (4) after it
    ledger = Ledger(
        [
            call(1, "draft", 2.0, cs3=0.2),
            call(2, "draft", 3.0, cs3=0.1),
            call(3, "judge", 1.0, after=[1, 2], cs3=0.05),
            call(4, "refine", 0.5, after=[3], cs3=0.3),
        ]
    )
    assert ledger.sum_of_calls_s() == pytest.approx(6.5)
    assert ledger.critical_path_s() == pytest.approx(3.0 + 1.0 + 0.5)
    assert ledger.critical_path() == [2, 3, 4]
    # on cs3 the other draft is the slow one: the path changes with the weights
    assert ledger.critical_path_s("cs3") == pytest.approx(0.2 + 0.05 + 0.3)
    assert ledger.critical_path("cs3") == [1, 3, 4]
    assert ledger.sum_of_calls_s("cs3") == pytest.approx(0.65)


def test_usage_by_role_sums_to_the_total():
    ledger = Ledger(
        [
            call(1, "draft", 1, tokens=(7, 40)),
            call(2, "judge", 1, [1], tokens=(90, 3)),
            call(3, "judge", 1, [2], tokens=(50, 2)),
        ]
    )
    usage = ledger.usage()
    assert usage.by_role["judge"].calls == 2
    assert usage.by_role["judge"].prompt_tokens == 140
    assert usage.total.total_tokens == 7 + 40 + 90 + 3 + 50 + 2 == ledger.total_tokens
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "calls"):
        assert getattr(usage.total, key) == sum(getattr(u, key) for u in usage.by_role.values())


def test_engine_busy_time_is_the_union_of_call_intervals():
    ledger = Ledger(
        [
            call(1, "draft", 2.0, start=0.0),
            call(2, "draft", 2.0, start=1.0),
            call(3, "judge", 1.0, start=5.0),
        ]
    )
    assert ledger.engine_busy_s() == pytest.approx(3.0 + 1.0)
    report = ledger.latency(wall_s=6.5)
    assert report.overhead_s == pytest.approx(2.5)
    assert report.emulated["cs3"].critical_path_s == pytest.approx(0.0)


def test_empty_ledger_reports_zeros():
    ledger = Ledger()
    assert ledger.critical_path_s() == 0.0
    assert ledger.critical_path() == []
    assert ledger.latency(0.1).engine_busy_s == 0.0
