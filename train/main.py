"""CLI: ``python -m train --config train/configs/noise_t1.py [--config.key=value] [--workdir DIR]``.

Kept short on purpose; the logic lives in :mod:`train.train`, which tests and
notebooks import.
"""

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (train/configs/*.py[:variant]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, results.json and plots.")
flags.DEFINE_bool("resume", False, "Continue from the last checkpoint in --workdir.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  from train import train
  cfg = FLAGS.config
  workdir = FLAGS.workdir or f"runs/{cfg.method}_{cfg.dataset}_{cfg.model}"
  results = train.train_and_evaluate(cfg, workdir, resume=FLAGS.resume)
  print(train.format_table(results))
  print(f"\nresults: {workdir}/results.json   plots: {workdir}/*.png")


def run():
  app.run(main)


if __name__ == "__main__":
  run()
