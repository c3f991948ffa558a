"""Roles that declare an output constraint: loading, rendering, the default chat pack's
critic / judge grammars on a real engine, and how they travel to remote servers."""

from __future__ import annotations

import re

import pytest
from thinkfast.engine.constraint import GrammarConstraint, RegexConstraint
from thinkfast.engine.remote.wire import request_body
from thinkfast.orchestrator import PromptPack, athink, default_pack
from thinkfast.orchestrator.prompt_pack import PromptPackError


def test_a_role_declares_a_constraint_and_its_requests_carry_it(tmp_path):
    path = tmp_path / "pack.json"
    path.write_text(
        """{"name": "p", "roles": {"judge": {"template": "{question}",
            "constraint": {"type": "regex", "pattern": "Choice: [AB]"}}},
            "answer_pattern": "(?P<answer>.+)", "verdict_pattern": "(?P<verdict>.+)",
            "approve_pattern": "yes", "choice_pattern": "(?P<choice>[AB])"}"""
    )
    pack = PromptPack.from_file(path)
    request = pack.render("judge", question="1+1")
    assert request.constraint == RegexConstraint(pattern="Choice: [AB]")
    path.write_text(path.read_text().replace('"regex"', '"xml"'))
    with pytest.raises(PromptPackError, match="constraint"):
        PromptPack.from_file(path)


def test_default_pack_constraints_end_with_a_decision(engine):
    pack = default_pack()
    fields = dict(question="2+2", candidate="2+2=5\nAnswer: 5", answer="5", work="2+2=5")
    fields |= dict(candidate_a="Answer: 4", candidate_b="Answer: 5")
    for role, parse in (
        ("critique", pack.parse_verdict),
        ("verify_step", pack.parse_verdict),
        ("judge", pack.parse_choice),
    ):
        request = pack.render(role, **fields).model_copy(update={"n": 4, "seed": 1})
        assert isinstance(request.constraint, GrammarConstraint)
        # arith-tiny never saw these prompts: its replies are readable only thanks to the mask
        [gen] = engine.generate_sync([request.model_copy(update={"temperature": 1.3})])
        for sample in gen.samples:
            assert parse(sample.text) is not None, (role, sample.text)
            assert re.search(r"(Verdict|Choice): \S+$", sample.text)


async def test_default_pack_judge_decides_matches_on_a_model_it_was_not_written_for(engine):
    answer = await athink(
        "58+67",
        "best_of_n",
        engine,
        pack=default_pack(),
        n=4,
        selector="judge",
        temperature=1.2,
        seed=5,
    )
    assert not [w for w in answer.warnings if w.startswith("judge")]
    matches = [d for d in answer.decisions if d.kind == "match"]
    # every vote was readable: a match is decided, or split 1-1 between the two orders,
    # never the "tied 0-0" of a judge whose replies could not be parsed
    assert matches and not any("0-0" in d.detail for d in matches)


def test_pack_grammars_go_to_self_hosted_servers_and_are_dropped_for_hosted_apis():
    request = default_pack().render("judge", question="q", candidate_a="a", candidate_b="b")
    vllm = request_body(request, "m", structured_form="vllm")
    assert vllm["structured_outputs"] == {"grammar": request.constraint.lark}
    hosted = request_body(request, "m", structured_form="openai")  # if_unsupported: ignore
    assert "structured_outputs" not in hosted and "response_format" not in hosted
