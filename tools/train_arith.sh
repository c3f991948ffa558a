#!/usr/bin/env bash
# Reproduce engine/models/arith-tiny from seeds, exactly as the shipped weights were made:
# stage 1 = a full-mix training run from random init (its phase-1 weights are kept),
# stage 2 = a drafts-focused continuation from those weights, own-mistake mining, phase 2;
# stage 3 = phase 2 again at a lower learning rate, on mistakes mined from the stage-2 model.
# One torch thread throughout (the other core of the 2-core machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# Stage 1: only its phase 1 is used (the shipped run was stopped during its mining).
python -m tools.arith_model.train --seed 0 --phase1-steps 1100 --phase2-steps 450 \
    --tokens-per-batch 4096 --early-save-step 200 --phase1-only \
    --work runs/arith-tiny --out runs/arith-tiny/final
python -m tools.arith_model.train --seed 1 --init-from runs/arith-tiny/phase1 \
    --phase1-mix drafts --warmup 20 --lr 1.5e-3 --phase1-steps 480 --phase2-steps 260 \
    --tokens-per-batch 4096 --mine-problems 240 --mine-samples 4 --early-save-step -1 \
    --work runs/arith-tiny2 --out runs/arith-tiny2-final
# Stage 3: a low-learning-rate continuation with freshly mined own mistakes (phase 2 only).
python -m tools.arith_model.train --seed 2 --init-from runs/arith-tiny2-final \
    --warmup 10 --lr 6e-4 --phase1-steps 0 --phase2-steps 700 \
    --tokens-per-batch 4096 --mine-problems 160 --mine-samples 4 --early-save-step -1 \
    --work runs/arith-tiny3 --out engine/models/arith-tiny
