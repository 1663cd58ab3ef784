"""The training program as a library: train by any method, convert, evaluate at several T.

Needs the ``train`` extra (``pip install 'snnjax[train]'``). Command line:
``python -m snnjax.train --config noise_t1 --workdir runs/noise_t1``.
"""

from snnjax.train.trainer import (Trainer, build_model, evaluate_model, format_table, load_model,
                                  make_optimizer, recipe_for, save_model, to_snn, train_and_evaluate,
                                  train_model)
