"""``python -m snnjax.train --config noise_t1 --workdir runs/noise_t1``."""
from absl import flags

from snnjax.train import main

flags.adopt_module_key_flags(main)  # --help lists the program's own flags
main.run()
