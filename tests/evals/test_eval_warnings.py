"""Eval logs and reports carry the Answer's tie label and warnings, counted per config."""

import json

from thinkfast.evals.log import read_log

from thinkfast.cli import main


def test_unreadable_judges_and_ties_reach_the_log_and_report(tmp_path, capsys, pack):
    # the model's prompts, the judge's reading written for another model
    foreign = pack.model_copy(
        update={
            "name": "written-for-another-model",
            "choice_pattern": r"FINAL CHOICE: (?P<choice>[AB])",
            "choice_check_pattern": None,
        }
    )
    pack_file = tmp_path / "foreign.json"
    pack_file.write_text(foreign.model_dump_json())
    log = tmp_path / "run"
    argv = ["eval", "run", "arith-1", "--limit", "3", "--strategy", "best_of_n"]
    argv += ["-S", "n=4", "-S", "selector=judge", "-S", "temperature=1.5", "--seed", "1"]
    argv += ["--pack", str(pack_file), "--log-dir", str(log), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    _, records = read_log(log)
    label = "best_of_n(n=4,selector=judge,temperature=1.5)"
    warned = [
        r for r in records if any(w.startswith("judge replies on arith-tiny") for w in r.warnings)
    ]
    assert warned, "no judge reply went unread: pick another seed"
    counted = f"warning ({label}, {len(warned)} of {len(records)} runs): judge replies on "
    assert (
        counted + "arith-tiny had no choice that pack 'written-for-another-model' could read" in out
    )
    ties = sum(r.tie for r in records)
    assert ties and f"ties: {label}: {ties} of {len(records)} final choices" in out

    assert main(["eval", "report", str(log), "--json"]) == 0
    (config,) = json.loads(capsys.readouterr().out)["configs"]
    assert config["ties"] == ties and config["warned"] == len(warned)
