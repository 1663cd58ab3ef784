"""``python -m snnjax.train --config noise_t1 --workdir runs/noise_t1``."""
from snnjax.train.main import run

run()
