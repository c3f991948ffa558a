"""The v2 roles' figures for the model card: step verifier, verifier-selected best-of-8,
verifier-guided refine, aggregator, debate and the thinking extension.

Called by `evaluate.py` with the problems of one level and the 8 samples per problem it
already drew (temperature 0.7), so every figure here is on the model's OWN samples of
held-out evaluation problems, asked exactly as a strategy would (see the model card):

- step verifier: every labelled step (`steps.step_items`: the steps up to and including
  the first wrong one, and the answer line of an all-right scratchpad) of the first two
  samples of each problem; balanced accuracy = mean of the right-step approval rate and
  the wrong-step rejection rate;
- best-of-8 by the verifier: each sample's process score is the share of its steps (the
  answer line included) the verifier accepts; the answer with the largest total score wins
  (a verifier-weighted vote; ties: the earliest sample). Beside it, `bo8_verifier_top`:
  the plain vote among the samples with the most steps accepted before the first rejection;
- verifier-guided refine, one round: verify the greedy draft; at the first rejected step,
  restart the drafter from the accepted prefix twice over: through the step the verifier
  wrote instead, and re-drawing the step (temperature 0.7, 2 samples); the answer is the
  verifier-weighted vote over the draft and its three restarts (the verifier trusts its
  own rewritten step, so a restart must also agree with others to win; a rejected answer
  line takes the verifier's `Got:` value);
- aggregator over samples 1-4 and the vote over the same 4 (`_snapped`: its output taken
  as the offered answer fewest character edits away, as a strategy should read it: it is
  trained to choose among the offered answers and sometimes miscopies a digit);
- debate: samples 1-3 are three agents' first answers; each of 2 rounds asks every agent
  (its answer, the two others') for a revised answer; the final answer is their vote
  (ties: agent 1), against the vote over the first answers (`_snapped` as above);
- thinking extension: the greedy draft's steps, then `\\nWait: `, then its answer.
"""

from __future__ import annotations

import re
from collections import Counter

from thinkfast.engine import Engine, GenerationRequest
from thinkfast.evals.arith import ArithProblem, parse_work

from .formats import MAX_TOKENS, STOP, TEMPLATES
from .steps import step_items, work_upto

__all__ = ["evaluate_roles", "request", "snap"]

_GOT = re.compile(r"Got: (-?\d+)")


def request(pack, role: str, **fields: str) -> GenerationRequest:
    """A greedy request for `role`: through the pack when it declares the role, else from
    the training formats (the same template)."""
    if pack.has_role(role) if hasattr(pack, "has_role") else False:
        req = pack.render(role, **fields)
    else:
        req = GenerationRequest(
            prompt=TEMPLATES[role].format(**fields),
            max_tokens=MAX_TOKENS[role],
            stop=STOP.get(role, []),
        )
    return req.model_copy(update={"temperature": 0.0})


async def _texts(engine: Engine, reqs: list[GenerationRequest], chunk: int = 64) -> list[str]:
    out: list[str] = []
    for i in range(0, len(reqs), chunk):
        out.extend(g.samples[0].text for g in await engine.generate(reqs[i : i + chunk]))
    return out


async def _verify_all(engine, pack, jobs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Verifier text for each distinct (question, work)."""
    unique = list(dict.fromkeys(jobs))
    texts = await _texts(
        engine, [request(pack, "verify_step", question=q, work=w) for q, w in unique]
    )
    return dict(zip(unique, texts, strict=True))


def _vote(answers: list[str | None]) -> str | None:
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == top)


def _works(text: str) -> list[str]:
    """The verifier inputs of a candidate: each step prefix, then the answer line."""
    steps, answer = parse_work(text)
    return [work_upto(steps, k, answer) for k in range(len(steps) + 1)] if steps else []


def _first_rejection(pack, works: list[str], verdicts: dict, question: str) -> int | None:
    for k, w in enumerate(works):
        if pack.parse_verdict(verdicts[(question, w)]) is False:
            return k
    return None


def _share(pack, works: list[str], verdicts: dict, question: str) -> float:
    """Process score: the share of a candidate's steps (answer line included) the verifier
    accepts; 0 for a candidate with no steps."""
    if not works:
        return 0.0
    return sum(pack.parse_verdict(verdicts[(question, w)]) is not False for w in works) / len(works)


def _prefix_score(pack, works: list[str], verdicts: dict, question: str) -> float:
    """The share of steps accepted before the first rejection (1.0: none rejected)."""
    if not works:
        return 0.0
    first = _first_rejection(pack, works, verdicts, question)
    return 1.0 if first is None else first / len(works)


def _weighted_vote(answers: list[str | None], weights: list[float]) -> str | None:
    """The answer with the largest total process score (ties: the earliest drawn)."""
    totals: dict[str, float] = {}
    for a, w in zip(answers, weights, strict=True):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + w
    if not totals:
        return None
    top = max(totals.values())
    return next(a for a in answers if a is not None and totals[a] == top)


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def snap(said: str | None, offered: list[str]) -> str | None:
    """The offered answer an aggregator's or debater's output names: itself, or else the
    one fewest character edits away (ties: the first offered)."""
    if said is None or said in offered:
        return said
    return min(offered, key=lambda o: _edit_distance(said, o))


def _balanced(items: list[tuple[bool, bool | None]]) -> dict:
    pos = [said for ok, said in items if ok]
    neg = [said for ok, said in items if not ok]
    tpr = sum(s is True for s in pos) / len(pos) if pos else None
    tnr = sum(s is False for s in neg) / len(neg) if neg else None
    return {
        "items_right": len(pos),
        "items_wrong": len(neg),
        "approves_right": tpr,
        "rejects_wrong": tnr,
        "balanced": (tpr + tnr) / 2 if pos and neg else None,
    }


async def evaluate_roles(
    engine: Engine,
    pack,
    problems: list[ArithProblem],
    sampled: list[list[str]],
    greedy: list[str],
    bo8_problems: int | None = None,
) -> dict:
    """v2-role figures for one level; `sampled[i]` are problem i's sampled drafts and
    `greedy[i]` its greedy draft (problems[:len(sampled)] were sampled)."""
    res: dict = {}
    many = problems[: len(sampled)]
    answer = pack.extract_answer

    # step verifier on labelled steps of the first two samples of each problem
    items = [
        (p, it)
        for p, s in zip(many, sampled, strict=True)
        for t in s[:2]
        for it in step_items(p, t)
    ]
    verdicts = await _verify_all(engine, pack, [(p.question, it.work) for p, it in items])
    said = [(it.ok, pack.parse_verdict(verdicts[(p.question, it.work)])) for p, it in items]
    res["verifier"] = _balanced(said)

    # best-of-8 selected by the process score
    k = bo8_problems or len(many)
    jobs = [
        (p.question, w)
        for p, s in zip(many[:k], sampled[:k], strict=True)
        for t in s
        for w in _works(t)
    ]
    verdicts.update(await _verify_all(engine, pack, [j for j in jobs if j not in verdicts]))
    right_bo8 = right_top = right_vote = 0
    paired: dict[str, list[int]] = {}

    def pair(name: str, new: bool, old: bool) -> None:
        """Discordant pairs on the same problem: [new right only, old right only]."""
        counts = paired.setdefault(name, [0, 0])
        counts[0] += new and not old
        counts[1] += old and not new

    for p, s in zip(many[:k], sampled[:k], strict=True):
        shares = [_share(pack, _works(t), verdicts, p.question) for t in s]
        prefix = [_prefix_score(pack, _works(t), verdicts, p.question) for t in s]
        weighted = _weighted_vote([answer(t) for t in s], shares) == p.target
        top = max(prefix)
        chosen = _vote([answer(t) for t, sc in zip(s, prefix, strict=True) if sc == top])
        voted = _vote([answer(t) for t in s]) == p.target
        right_bo8 += weighted
        right_top += chosen == p.target
        right_vote += voted
        pair("bo8_verifier_vs_vote", weighted, voted)
    res["bo8_problems"] = k
    res["bo8_verifier"] = right_bo8 / k if k else None
    res["bo8_verifier_top"] = right_top / k if k else None
    res["bo8_vote"] = right_vote / k if k else None

    # verifier-guided refine, one round, from the greedy draft
    gworks = [_works(g) for g in greedy]
    verdicts.update(
        await _verify_all(
            engine,
            pack,
            [(p.question, w) for p, ws in zip(problems, gworks, strict=True) for w in ws],
        )
    )
    refined: list[str | None] = [answer(g) for g in greedy]
    cont_reqs, cont_idx = [], []
    for i, (p, g, ws) in enumerate(zip(problems, greedy, gworks, strict=True)):
        first = _first_rejection(pack, ws, verdicts, p.question) if ws else None
        if first is None:
            continue
        check = verdicts[(p.question, ws[first])]
        steps, _ = parse_work(g)
        if first == len(steps):  # the answer line: take the value the verifier got
            m = _GOT.search(check)
            refined[i] = m.group(1) if m else refined[i]
            continue
        fixed = check.split("\n")[0].strip()
        req = request(pack, "draft", question=p.question)
        # two restarts from the prefix the verifier accepted: one through the step it
        # wrote instead, one re-drawn (temperature 0.7) from the step before
        cont_reqs.append(
            req.model_copy(update={"prompt": req.prompt + ", ".join(steps[:first] + [fixed])})
        )
        cont_reqs.append(
            req.model_copy(
                update={
                    "prompt": req.prompt + "".join(s + ", " for s in steps[:first]),
                    "temperature": 0.7,
                    "n": 2,
                    "seed": i,
                }
            )
        )
        cont_idx.append(i)
    # a restart replaces the draft only when the verifier accepts a larger share of its
    # steps (one wrongly rejected right step must not throw a right draft away)
    outs = []
    for j in range(0, len(cont_reqs), 64):
        outs.extend(await engine.generate(cont_reqs[j : j + 64]))
    full: dict[int, list[str]] = {}
    for j, g in enumerate(outs):
        head = cont_reqs[j].prompt.split("\nThink: ", 1)[1]
        full.setdefault(cont_idx[j // 2], []).extend(head + smp.text for smp in g.samples)
    verdicts.update(
        await _verify_all(
            engine,
            pack,
            [(problems[i].question, w) for i, fs in full.items() for f in fs for w in _works(f)],
        )
    )
    kept = 0
    for i, fs in full.items():
        q = problems[i].question
        texts = [greedy[i], *fs]
        shares = [_share(pack, _works(t), verdicts, q) for t in texts]
        refined[i] = _weighted_vote([answer(t) for t in texts], shares)
        kept += refined[i] == answer(greedy[i])
    res["refine_kept_draft"] = kept
    res["refine_rewrote"] = len(cont_idx)
    res["greedy"] = sum(answer(g) == p.target for g, p in zip(greedy, problems, strict=True)) / len(
        problems
    )
    for a, g, p in zip(refined, greedy, problems, strict=True):
        pair("self_refine_vs_greedy", a == p.target, answer(g) == p.target)
    res["self_refine_verifier"] = sum(
        a == p.target for a, p in zip(refined, problems, strict=True)
    ) / len(problems)

    # aggregator over 4 samples vs the vote over the same 4; `_snapped`: its answer taken
    # as the candidate it is closest to (it is trained to choose one, and sometimes
    # miscopies a digit)
    offered = [[answer(t) or "none" for t in s[:4]] for s in sampled]
    agg = await _texts(
        engine,
        [
            request(pack, "aggregate", question=p.question, answers=", ".join(o))
            for p, o in zip(many, offered, strict=True)
        ],
    )
    res["aggregate4"] = sum(answer(a) == p.target for a, p in zip(agg, many, strict=True)) / len(
        many
    )
    res["aggregate4_snapped"] = sum(
        snap(answer(a), o) == p.target for a, o, p in zip(agg, offered, many, strict=True)
    ) / len(many)
    for a, o, s4, p in zip(agg, offered, sampled, many, strict=True):
        pair(
            "aggregate4_snapped_vs_vote4",
            snap(answer(a), o) == p.target,
            _vote([answer(t) for t in s4[:4]]) == p.target,
        )
    res["vote4"] = sum(
        _vote([answer(t) for t in s[:4]]) == p.target for s, p in zip(sampled, many, strict=True)
    ) / len(many)

    # debate: 3 agents, 2 rounds (raw answers, and answers snapped to those on the table)
    first = [[answer(t) or "none" for t in s[:3]] for s in sampled]
    res["vote3_first_round"] = sum(
        _vote(c) == p.target for c, p in zip(first, many, strict=True)
    ) / len(many)
    for key, snapping in (("debate3x2", False), ("debate3x2_snapped", True)):
        current = first
        for _ in range(2):
            reqs = [
                request(
                    pack,
                    "debate",
                    question=p.question,
                    answer=c[j],
                    others=", ".join(c[:j] + c[j + 1 :]),
                )
                for p, c in zip(many, current, strict=True)
                for j in range(3)
            ]
            outs = await _texts(engine, reqs)
            current = [
                [
                    (snap(answer(outs[3 * i + j]), c) if snapping else answer(outs[3 * i + j]))
                    or "none"
                    for j in range(3)
                ]
                for i, c in enumerate(current)
            ]
        res[key] = sum(_vote(c) == p.target for c, p in zip(current, many, strict=True)) / len(many)
        for c, f, p in zip(current, first, many, strict=True):
            pair(f"{key}_vs_vote3", _vote(c) == p.target, _vote(f) == p.target)

    # thinking extension: greedy steps, then "Wait:" and one more solution
    ext = await _texts(
        engine,
        [
            request(pack, "think_more", question=p.question, thinking=", ".join(parse_work(g)[0]))
            for p, g in zip(problems, greedy, strict=True)
        ],
    )
    res["think_more"] = sum(
        answer(e) == p.target for e, p in zip(ext, problems, strict=True)
    ) / len(problems)
    res["tokens_think_more"] = sum(len(e) for e in ext) / len(ext)
    for e, g, p in zip(ext, greedy, problems, strict=True):
        pair("think_more_vs_greedy", answer(e) == p.target, answer(g) == p.target)
    res["paired"] = paired
    return res
