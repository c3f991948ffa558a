#!/usr/bin/env bash
# The "Measured" sweep of docs/evals.md: single / best_of_n (vote and judge) n = 1..16 /
# self_refine 1-3 rounds on the arith levels with the shipped model, every configuration
# on the same samples (paired), then the report table (markdown) and the plot.
#
#   LIMIT=48 bash benchmarks/eval_sweep.sh        # 12 problems per level
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
LIMIT=${LIMIT:-48}
MODEL=${MODEL:-arith-tiny}
OUT=${OUT:-logs/sweep-arith-$LIMIT}
PLOT=${PLOT:-docs/evals_sweep.png}

if [ -f "$OUT/log.jsonl" ]; then RUN=(--resume "$OUT"); else RUN=(--log-dir "$OUT"); fi
thinkfast eval run arith --model "$MODEL" \
    --strategy single \
    --strategy best_of_n:n=1,2,4,8,16:selector=vote,judge \
    --strategy self_refine:max_rounds=1,2,3 \
    --limit "$LIMIT" --max-connections 32 --seed 0 "${RUN[@]}" --no-progress > /dev/null
thinkfast eval report "$OUT" --markdown --plot "$PLOT"
