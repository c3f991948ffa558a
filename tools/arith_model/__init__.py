"""Training and evaluation of arith-tiny, the tiny arithmetic reasoner thinkfast ships.

`python -m tools.arith_model.train --seed 0` rebuilds engine/models/arith-tiny from scratch;
`python -m tools.arith_model.evaluate` measures the model-card figures through LocalEngine.
"""
