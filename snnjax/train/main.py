"""CLI: ``python -m snnjax.train --config noise_t1[:variant] [--config.key=value] [--workdir DIR]``.

Kept short on purpose; the logic lives in :mod:`snnjax.train.trainer`, which
tests and notebooks import. ``--config`` takes a packaged config by name
(``noise_t1``, ``qcfs:tiny``, ...) or a path to a config file.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config: a packaged name (ann, bptt, noise_t1, ...) or a path to a config file, "
    "with an optional ':variant' (e.g. noise_t1:tiny); override fields with --config.key=value.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, results.json and plots.")
flags.DEFINE_bool("resume", False, "Continue from the last checkpoint in --workdir.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  from snnjax.train import trainer
  cfg = FLAGS.config
  workdir = FLAGS.workdir or f"runs/{cfg.method}_{cfg.dataset}_{cfg.model}"
  results = trainer.train_and_evaluate(cfg, workdir, resume=FLAGS.resume)
  print(trainer.format_table(results))
  print(f"\nresults: {workdir}/results.json   plots: {workdir}/*.png")


def _resolve_config_arg(argv: list[str]) -> list[str]:
  """Turn ``--config name[:variant]`` into the packaged file's path."""
  from snnjax.train import configs
  out, i = [], 0
  while i < len(argv):
    a = argv[i]
    if a == "--config" and i + 1 < len(argv):
      out += [a, configs.resolve(argv[i + 1])]
      i += 2
      continue
    if a.startswith("--config="):
      a = "--config=" + configs.resolve(a[len("--config="):])
    out.append(a)
    i += 1
  return out


def run(argv: list[str] | None = None):
  app.run(main, argv=_resolve_config_arg(list(sys.argv if argv is None else argv)))


if __name__ == "__main__":
  run()
