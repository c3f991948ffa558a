"""Structured output on SmolLM2-135M (49,152-token vocabulary): what the masks cost, and
what they buy.

1. Mask overhead, in microseconds per row per decode step, for a JSON schema and for a
   regex at batch 1 and 8: real token paths (sampled under the constraint) are replayed
   through fresh matchers, timing the mask fill + apply (`apply_constraints`) and the
   matcher's advance, and set beside the time of one SmolLM2 decode step of the same batch
   (targets: <= 50 us per row-step; <= 10% of a decode step; llguidance's own anchor is
   ~50 us per token for a 128k vocabulary). The in-engine decode step with and without the
   constraint is printed too (same batch, same run).
2. JSON validity on 50 schema-following prompts (5 schemas x 10 subjects), greedy,
   constrained vs unconstrained: the whole reply must validate, and, leniently, the first
   JSON object in it (code fences and text around it ignored); target constrained: 100%.
3. The default chat pack's critic and judge on SmolLM2, with and without their output
   constraints: how often the verdict / choice cannot be read (same prompts, paired).

Proportions carry Wilson 95% intervals and say how many prompts they rest on.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/engine_structured.py
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from types import SimpleNamespace

import jsonschema
import numpy as np
from thinkfast.engine.constraint import JsonSchemaConstraint, RegexConstraint
from thinkfast.engine.local import LocalEngine
from thinkfast.engine.local.structured import apply_constraints
from thinkfast.engine.types import ChatMessage, GenerationRequest
from thinkfast.evals.stats import wilson_interval
from thinkfast.orchestrator import default_pack

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "city": {"type": "string", "maxLength": 40},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
# Free text inside a bounded lexeme (a string with maxLength, a word of 2-12 letters) is
# where a mask costs most: llguidance's precomputed token-trie slices cover only the
# unbounded forms, so both kinds are measured.
MASK_CASES = {
    "json_schema": (
        JsonSchemaConstraint(
            json_schema={
                **PERSON,
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer"},
                    "city": {"type": "string"},
                },
            }
        ),
        "Describe a person as JSON.",
    ),
    "json_schema maxLength": (
        JsonSchemaConstraint(json_schema=PERSON),
        "Describe a person as JSON.",
    ),
    "regex": (
        RegexConstraint(pattern=r"[A-Z][a-z]+( [a-z]+)+\. (Yes|No)\."),
        "Is the sky blue? One sentence, then Yes/No.",
    ),
    "regex {2,12} words": (
        RegexConstraint(pattern=r"[A-Z][a-z]{2,12}( [a-z]{2,12}){2,6}\. (Yes|No)\."),
        "Is the sky blue? One sentence, then Yes/No.",
    ),
}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _chat(text: str, system: str | None = None) -> list[ChatMessage]:
    head = [ChatMessage(role="system", content=system)] if system else []
    return [*head, ChatMessage(role="user", content=text)]


def _interval(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:6.1%}  [{lo:.1%}, {hi:.1%}]"


# -- 1. mask overhead -----------------------------------------------------------------------
def _replay(engine: LocalEngine, constraint, paths: list[list[int]]) -> tuple[float, int]:
    """Seconds spent masking + advancing matchers over `paths`, and the row-steps done."""
    eos = engine.eos_ids
    proto = engine.constraints.matcher(constraint)
    banned = engine.constraints.banned_ids
    rows = [
        SimpleNamespace(matcher=proto.deep_copy(), job=SimpleNamespace(banned_ids=banned))
        for _ in paths
    ]
    vocab = engine.args.vocab_size
    base = np.random.default_rng(0).standard_normal((len(paths), vocab)).astype(np.float32)
    spent, row_steps = 0.0, 0
    for t in range(max(len(p) for p in paths)):
        for row, path in zip(rows, paths, strict=True):
            if t >= len(path) or path[t] in eos:
                row.matcher = None
        live = [r for r in rows if r.matcher is not None]
        if not live:
            break
        logits = base.copy()
        t0 = time.process_time()
        apply_constraints(rows, logits, eos)
        for row, path in zip(rows, paths, strict=True):
            if row.matcher is not None:
                row.matcher.consume_token(path[t])
        spent += time.process_time() - t0
        row_steps += len(live)
    return spent, row_steps


def _decode_step_s(engine: LocalEngine, batch: int, constraint, steps: int) -> float:
    """CPU seconds per decode step of one request of `batch` rows (best of 2)."""
    best = float("inf")
    for trial in range(2):
        request = GenerationRequest(
            messages=_chat("Tell me a long story about a lighthouse keeper."),
            n=batch,
            max_tokens=steps,
            temperature=0.8,
            seed=trial,
            constraint=constraint,
        )
        t0 = time.process_time()
        [gen] = engine.generate_sync([request])
        cpu = time.process_time() - t0
        longest = max(len(s.token_ids) for s in gen.samples)
        best = min(best, cpu / longest)
    return best


def mask_overhead(engine: LocalEngine, steps: int) -> None:
    print(
        f"\n== 1. mask overhead (vocab {engine.args.vocab_size:,}, up to {steps} steps per row; "
        "CPU time of this process, so other load on the machine does not count)"
    )
    print(
        f"{'constraint':<22} {'batch':>5} {'us/row-step':>12} {'decode step ms':>15} "
        f"{'mask % of step':>15} {'step ms constrained':>20}"
    )
    plain = {batch: _decode_step_s(engine, batch, None, steps) for batch in (1, 8)}
    for name, (constraint, ask) in MASK_CASES.items():
        for batch in (1, 8):
            [gen] = engine.generate_sync(
                [
                    GenerationRequest(
                        messages=_chat(ask),
                        n=batch,
                        max_tokens=steps,
                        temperature=0.8,
                        seed=1,
                        constraint=constraint,
                    )
                ]
            )
            paths = [s.token_ids for s in gen.samples]
            spent, row_steps = min(
                (_replay(engine, constraint, paths) for _ in range(3)), key=lambda r: r[0]
            )
            per_row_step = spent / max(1, row_steps)
            constrained = _decode_step_s(engine, batch, constraint, steps)
            share = per_row_step * batch / plain[batch]
            print(
                f"{name:<22} {batch:>5} {per_row_step * 1e6:>12.1f} {plain[batch] * 1e3:>15.2f} "
                f"{share:>15.1%} {constrained * 1e3:>20.2f}"
            )


# -- 2. JSON validity -----------------------------------------------------------------------
SCHEMAS = {
    "person": (PERSON, ["Ada Lovelace", "a retired sailor from Lisbon", "a young chess player"]),
    "book": (
        {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 60},
                "author": {"type": "string", "maxLength": 40},
                "year": {"type": "integer", "minimum": 1400, "maximum": 2030},
                "genres": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 20},
                    "maxItems": 3,
                },
            },
            "required": ["title", "author", "year", "genres"],
            "additionalProperties": False,
        },
        ["Moby Dick", "a famous detective novel", "a children's book about a bear"],
    ),
    "product": (
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 40},
                "price": {"type": "number", "minimum": 0},
                "in_stock": {"type": "boolean"},
            },
            "required": ["name", "price", "in_stock"],
            "additionalProperties": False,
        },
        ["a red bicycle", "a cheap umbrella", "a laptop that is sold out"],
    ),
    "weather": (
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "temperature_c": {"type": "number"},
                "condition": {"enum": ["sunny", "cloudy", "rainy", "snowy"]},
            },
            "required": ["city", "temperature_c", "condition"],
            "additionalProperties": False,
        },
        ["a rainy day in London", "a hot afternoon in Cairo", "winter in Oslo"],
    ),
    "event": (
        {
            "type": "object",
            "properties": {
                "event": {"type": "string", "maxLength": 50},
                "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                "attendees": {"type": "integer", "minimum": 0},
            },
            "required": ["event", "date", "attendees"],
            "additionalProperties": False,
        },
        ["a wedding in June 2024", "a small team meeting", "a concert on New Year's Eve 2023"],
    ),
}
EXTRA_SUBJECTS = [
    "something from a museum",
    "an example from a textbook",
    "a typical case",
    "an unusual case",
    "something from a newspaper",
    "something you find in a village",
    "an entry in a catalogue",
]


def validity_prompts() -> list[tuple[str, dict, list[ChatMessage]]]:
    prompts = []
    for kind, (schema, subjects) in SCHEMAS.items():
        for subject in [*subjects, *EXTRA_SUBJECTS][:10]:
            text = (
                f"Give a JSON object describing {kind} data for: {subject}. "
                f"It must follow this JSON schema: {json.dumps(schema)}"
            )
            prompts.append((kind, schema, _chat(text, "Reply with the JSON object only.")))
    return prompts


def _json_in(text: str) -> object | None:
    """The first JSON object in a reply, leniently: code fences and any text before or
    after it (a second object, an explanation) are ignored."""
    text = re.sub(r"```(?:json)?", "", text)
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        return value
    return None


def _valid(value: object | None, schema: dict) -> bool:
    if value is None:
        return False
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def json_validity(engine: LocalEngine, max_tokens: int) -> None:
    prompts = validity_prompts()
    print(f"\n== 2. JSON validity, {len(prompts)} schema-following prompts, greedy")
    results = {}
    for label, constrained in (("unconstrained", False), ("constrained", True)):
        requests = [
            GenerationRequest(
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.0,
                constraint=JsonSchemaConstraint(json_schema=schema) if constrained else None,
            )
            for _, schema, messages in prompts
        ]
        t0 = time.perf_counter()
        gens = engine.generate_sync(requests)
        wall = time.perf_counter() - t0
        strict = [
            _valid(_strict_json(g.text), s) for g, (_, s, _) in zip(gens, prompts, strict=True)
        ]
        lenient = [_valid(_json_in(g.text), s) for g, (_, s, _) in zip(gens, prompts, strict=True)]
        cut = sum(g.samples[0].finish_reason == "length" for g in gens)
        results[label] = strict
        print(f"  e.g. {prompts[0][0]}: {gens[0].text[:200]!r}")
        print(
            f"{label:<14} whole reply valid: {_interval(sum(strict), len(strict))}   "
            f"JSON inside valid: {_interval(sum(lenient), len(lenient))}   "
            f"cut by max_tokens: {cut}   wall {wall:.1f}s"
        )
    only_constrained = sum(
        c and not u for c, u in zip(results["constrained"], results["unconstrained"], strict=True)
    )
    only_plain = sum(
        u and not c for c, u in zip(results["constrained"], results["unconstrained"], strict=True)
    )
    print(f"paired: valid only constrained {only_constrained}, only unconstrained {only_plain}")


def _strict_json(text: str) -> object | None:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


# -- 3. judge and critic parse failures ----------------------------------------------------
def _problems(count: int) -> list[tuple[str, int, int]]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(count):
        a, b, c = (int(x) for x in rng.integers(2, 40, size=3))
        right = a + b * c
        wrong = right + int(rng.choice([-10, -3, -1, 1, 2, 7]))
        out.append((f"What is {a} + {b} * {c}?", right, wrong))
    return out


def _solution(question: str, answer: int) -> str:
    return f"Multiplication first, then addition: the result is {answer}.\nAnswer: {answer}"


def pack_parse_failures(engine: LocalEngine, count: int) -> None:
    pack = default_pack()
    problems = _problems(count)
    print(
        f"\n== 3. default chat pack on {engine.model_name}: unreadable decisions, {count} prompts each"
    )
    for role in ("critique", "judge"):
        requests = []
        for i, (question, right, wrong) in enumerate(problems):
            if role == "critique":
                answer = right if i % 2 == 0 else wrong
                fields = dict(
                    question=question, candidate=_solution(question, answer), answer=str(answer)
                )
            else:
                a, b = (right, wrong) if i % 2 == 0 else (wrong, right)
                fields = dict(
                    question=question,
                    candidate_a=_solution(question, a),
                    candidate_b=_solution(question, b),
                )
            requests.append(
                pack.render(role, **fields).model_copy(update={"temperature": 0.7, "seed": i})
            )
        parse = pack.parse_verdict if role == "critique" else pack.parse_choice
        # the right decision: approve a right answer (even i); prefer the right candidate
        truth = [
            i % 2 == 0 if role == "critique" else (0 if i % 2 == 0 else 1) for i in range(count)
        ]
        failed = {}
        for label in ("unconstrained", "constrained"):
            batch = [
                r if label == "constrained" else r.model_copy(update={"constraint": None})
                for r in requests
            ]
            t0 = time.perf_counter()
            gens = engine.generate_sync(batch)
            wall = time.perf_counter() - t0
            decisions = [parse(g.text) for g in gens]
            failed[label] = [d is None for d in decisions]
            right = sum(d == t for d, t in zip(decisions, truth, strict=True) if d is not None)
            tokens = sum(len(g.samples[0].token_ids) for g in gens)
            print(
                f"{role:<9} {label:<14} unreadable: {_interval(sum(failed[label]), count)}   "
                f"right decisions: {right}/{count}   tokens {tokens}   wall {wall:.1f}s"
            )
        fixed = sum(
            u and not c for u, c in zip(failed["unconstrained"], failed["constrained"], strict=True)
        )
        print(f"{role:<9} paired: unreadable only without the constraint: {fixed} of {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=48, help="decode steps per row (part 1)")
    parser.add_argument("--max-tokens", type=int, default=128, help="JSON replies (part 2)")
    parser.add_argument(
        "--pack-prompts", type=int, default=30, help="critic/judge prompts (part 3)"
    )
    parser.add_argument("--parts", default="123")
    args = parser.parse_args()
    engine = LocalEngine(args.model, hardware=())
    print(f"model {engine.model_name}, CPU {_cpu()}, BLAS threads {engine.blas_threads}")
    _ = engine.constraints.tokenizer  # build the LLTokenizer outside every timing
    if "1" in args.parts:
        mask_overhead(engine, args.steps)
    if "2" in args.parts:
        json_validity(engine, args.max_tokens)
    if "3" in args.parts:
        pack_parse_failures(engine, args.pack_prompts)


if __name__ == "__main__":
    main()
