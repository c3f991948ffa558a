"""Shared test set-up: pin BLAS threads so tests behave the same on a 2-core machine."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
