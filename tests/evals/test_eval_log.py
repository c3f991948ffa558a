"""The JSONL log: header first, torn last lines tolerated and cut, bad lines named, latest wins."""

import json

import pytest
from thinkfast.evals.errors import LogError
from thinkfast.evals.log import (
    LOG_NAME,
    Header,
    LogWriter,
    Record,
    RunSpec,
    latest_records,
    now_iso,
    read_log,
)


def spec(**kw):
    base = dict(
        task="arith-1",
        sample_ids=["a", "b"],
        configs=[{"id": "c0", "strategy": "single", "options": {}}],
        model="m",
    )
    base.update(kw)
    return RunSpec(**base)


def rec(sample, correct=True, error=None, epoch=0):
    return Record(
        config="c0", sample_id=sample, epoch=epoch, seed=1, target="1", correct=correct, error=error
    )


def test_write_read_roundtrip(tmp_path):
    with LogWriter(tmp_path, Header(spec=spec(), created=now_iso(), git_revision="abc")) as w:
        w.write(rec("a"))
        w.write(rec("b", correct=False))
    header, records = read_log(tmp_path)
    assert header.spec == spec() and header.git_revision == "abc"
    assert [(r.sample_id, r.correct) for r in records] == [("a", True), ("b", False)]
    first = json.loads((tmp_path / LOG_NAME).read_text().splitlines()[0])
    assert first["type"] == "header" and first["spec"]["task"] == "arith-1"


def test_refuses_to_overwrite_an_existing_log(tmp_path):
    LogWriter(tmp_path, Header(spec=spec(), created=now_iso())).close()
    with pytest.raises(LogError, match="already exists; use --resume"):
        LogWriter(tmp_path, Header(spec=spec(), created=now_iso()))


def test_torn_last_line_is_dropped_and_cut_before_appending(tmp_path):
    with LogWriter(tmp_path, Header(spec=spec(), created=now_iso())) as w:
        w.write(rec("a"))
    path = tmp_path / LOG_NAME
    with path.open("a") as fh:
        fh.write('{"type": "sample", "config": "c0", "sampl')  # interrupted mid-write
    _, records = read_log(tmp_path)
    assert [r.sample_id for r in records] == ["a"]
    with LogWriter(tmp_path) as w:  # continuing cuts the torn tail first
        w.write(rec("b"))
    _, records = read_log(tmp_path)
    assert [r.sample_id for r in records] == ["a", "b"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_malformed_middle_line_is_an_error_with_its_number(tmp_path):
    with LogWriter(tmp_path, Header(spec=spec(), created=now_iso())) as w:
        w.write(rec("a"))
    path = tmp_path / LOG_NAME
    path.write_text(path.read_text() + "garbage\n" + rec("b").model_dump_json() + "\n")
    with pytest.raises(LogError, match="line 3 is not valid JSON"):
        read_log(tmp_path)


def test_missing_log_and_missing_header(tmp_path):
    with pytest.raises(LogError, match="no eval log"):
        read_log(tmp_path)
    (tmp_path / LOG_NAME).write_text(rec("a").model_dump_json() + "\n")
    with pytest.raises(LogError, match="should be the run header"):
        read_log(tmp_path)


def test_latest_success_wins_over_errors():
    err = {"type": "EngineError", "message": "boom"}
    recs = [rec("a", error=err), rec("a", correct=False), rec("b"), rec("b", error=err)]
    latest = latest_records(recs)
    assert latest[("c0", "a", 0)].error is None and latest[("c0", "a", 0)].correct is False
    assert latest[("c0", "b", 0)].error is None  # a later error does not hide a success


def test_spec_differences_are_named():
    diffs = spec(model="other", sample_ids=["a"]).differences(spec())
    assert any(d.startswith("model (log: 'm', now: 'other')") for d in diffs)
    assert any("sample_ids (2 in the log vs 1 now)" in d for d in diffs)
