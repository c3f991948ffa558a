#!/usr/bin/env bash
# Reproduce engine/models/arith-tiny (v2) from seed 0 in three commands:
#   stage 1  the v1 recipe (drafts first, own-mistake mining, critic/judge/refine): 5,000 steps
#   pool     1,984 training problems x 8 samples of the stage-1 drafter (temperature 0.7)
#   stage 2  2,400 fine-tuning steps adding the step verifier, aggregator, debater and
#            thinking extension on those own samples, old roles kept in the mix
# One torch thread, bf16 autocast (on the shared 2-core EPYC, 1 thread ran 4x faster than 2
# while others were busy). Wall times (model card): stage 1 52.5 min on the old machine
# with 2 threads, pool ~15 min, stage 2 see training.json. The shipped v2 ran stage 2 from
# the shipped v1 weights (= stage 1 of seed 0).
set -euo pipefail
cd "$(dirname "$0")/.."
work=runs/arith-tiny
python -m tools.arith_model.train --seed 0 --threads 1 --out "$work/stage1" --work "$work"
python -m tools.arith_model.mine_pool --model "$work/stage1" --problems 1984 --samples 8 \
    --seed 1 --out "$work/pool.jsonl"
python -m tools.arith_model.finetune --init "$work/stage1" --pool "$work/pool.jsonl" \
    --seed 0 --steps 2400 --stop-after 1600 --threads 1 --out engine/models/arith-tiny \
    --work "$work/stage2"
