"""The training program, run from a clone: ``python -m train --config noise_t1``.

Same as ``python -m snnjax.train``; the program lives in :mod:`snnjax.train`
so that it also runs from an installed wheel.
"""
from snnjax.train.main import run

run()
