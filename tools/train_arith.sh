#!/usr/bin/env bash
# Reproduce engine/models/arith-tiny from seed 0, exactly as the shipped weights were made:
# phase 1 (drafts first), own-mistake mining, phase 2; two torch threads, bf16 autocast.
# About 57 minutes on the 2-core CPU this project is developed on.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m tools.arith_model.train --seed 0 --out engine/models/arith-tiny "$@"
