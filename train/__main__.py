"""The training program, run from a clone: ``python -m train --config noise_t1``.

Same as ``python -m snnjax.train``; the program lives in :mod:`snnjax.train`
so that it also runs from an installed wheel.
"""
from absl import flags

from snnjax.train import main

flags.adopt_module_key_flags(main)  # --help lists the program's own flags
main.run()
