"""CLI: ``python -m snnjax.train --config noise_t1[:variant] [--config.key=value] [--workdir DIR]``.

Kept short on purpose; the logic lives in :mod:`snnjax.train.trainer`, which
tests and notebooks import. ``--config`` takes a packaged config by name
(``noise_t1``, ``qcfs:tiny``, ...) or a path to a config file.
``--mode=evaluate --workdir DIR`` evaluates a finished run's saved model again
(at other T, or another initial potential) without retraining.
"""

import logging as std_logging
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config: a packaged name (ann, bptt, noise_t1, qcfs, noise_adaptor, ottt, saf, "
    "snn2ann) or a path to a config file, with an optional ':variant' (e.g. noise_t1:tiny); override "
    "fields with --config.key=value.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for the lock, config.json, checkpoints, the trained "
                    "model, results.json and plots (default runs/<method>_<dataset>_<model>).")
flags.DEFINE_bool("resume", False, "Continue from the newest good checkpoint in --workdir.")
flags.DEFINE_enum("mode", "train", ["train", "evaluate"], "train: train, convert and evaluate; "
                  "evaluate: evaluate the saved model of a finished run in --workdir again.")
flags.DEFINE_list("eval_T", None, "evaluate mode: time steps to report (default: the run's config).")
flags.DEFINE_string("v0", None, "evaluate mode: override the converted neurons' initial potential "
                    "('zero', 'half' or a fraction of θ).")

USER_ERRORS = (ValueError, RuntimeError, FileNotFoundError, NotADirectoryError, FloatingPointError,
               ImportError)


def main(argv):
  del argv
  from snnjax.train import trainer
  logging.set_verbosity(logging.INFO)
  # INFO lines are the run's own (one per epoch); other libraries (orbax logs every save) speak
  # from WARNING up
  logging.get_absl_handler().addFilter(_OwnInfoOnly())
  try:
    if FLAGS.mode == "evaluate":
      if not FLAGS.workdir:
        raise ValueError("--mode=evaluate needs --workdir, the directory of a finished run.")
      out_dir = os.path.join(FLAGS.workdir, "evaluate")
      results = trainer.evaluate_saved(FLAGS.workdir, eval_T=FLAGS.eval_T, v0=_v0(FLAGS.v0), out_dir=out_dir)
      print(trainer.format_table(results))
      print(f"\nresults: {out_dir}/results.json   plots: {', '.join(results.get('plots', []))}")
      return
    cfg = FLAGS.config
    if cfg is None:
      raise ValueError("--config is required to train (e.g. --config noise_t1); see --help.")
    workdir = FLAGS.workdir or f"runs/{cfg.method}_{cfg.dataset}_{cfg.model}"
    results = trainer.train_and_evaluate(cfg, workdir, resume=FLAGS.resume)
  except USER_ERRORS as e:
    print(f"snnjax.train: error: {e}", file=sys.stderr)
    sys.exit(1)
  if "stopped_at" in results:
    print(f"stopped after step {results['stopped_at']} (config.stop_after); continue with --resume.")
    return
  print(trainer.format_table(results))
  print(f"\nresults: {workdir}/results.json   model: {workdir}/model   "
        + (f"plots: {', '.join(p for p in results.get('plots', []))}" if results.get("plots") else ""))


class _OwnInfoOnly(std_logging.Filter):
  """Pass INFO records from snnjax only; warnings and errors from everyone."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or f"{os.sep}snnjax{os.sep}" in record.pathname


def _v0(v):
  if v is None or v in ("zero", "half"):
    return v
  return float(v)


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
  """The entry point (also the ``snnjax-train`` console script)."""
  try:
    args = _resolve_config_arg(list(sys.argv if argv is None else argv))
  except ValueError as e:
    print(f"snnjax.train: error: {e}", file=sys.stderr)
    sys.exit(1)
  app.run(main, argv=args)


if __name__ == "__main__":
  run()
