"""The all-methods comparison harness on a tiny setting: configs, cached runs, tables, figures, claims."""

import dataclasses
import os

import pytest

from benchmarks import compare


def _tiny_model(kind):
  if kind == "snn2ann":
    return {"model": "snn2ann_vgg", "norm": True, "model_kwargs": {"blocks": ((2, 4, True, 0.0),), "pool": "avg"}}
  kw = {"channels": (4, 4), "pools": (False, True)}
  if kind == "ws":
    return {"model": "CNN", "norm": False, "model_kwargs": dict(kw, ws=True, act_scale=2.74)}
  return {"model": "CNN", "norm": True, "model_kwargs": kw}


TINY = compare.Setting("tiny", "tiny CNN on digits", "digits", epochs=1, batch_size=32, train_examples=256,
                       eval_examples=64, eval_T=(1, 2, 4, 8), classic_T=(8, 16), seeds=1, model=_tiny_model)


def test_every_method_gets_the_same_layout_and_budget():
  for m in compare.METHODS:
    c = compare.make_config(m, compare.SETTINGS["deep"], seed=2)
    assert (c.dataset, c.epochs, c.batch_size, c.seed) == ("fashion_mnist", 2, 64, 2)
    if m.kind == "snn2ann":
      assert c.model == "snn2ann_vgg" and [b[1] for b in c.model_kwargs.blocks] == [32, 64, 128, 128]
    else:
      assert c.model == "CNN" and tuple(c.model_kwargs.channels) == compare.DEEP_CHANNELS
      assert c.norm == (m.kind == "bn") and bool(c.model_kwargs.get("ws", False)) == (m.kind == "ws")
  ann = compare.make_config(compare.METHODS[0], compare.SETTINGS["deep"], seed=0)
  assert max(ann.eval_T) == 256 and 1 in ann.eval_T  # classic conversion further out


def test_steps_to_match():
  assert compare.steps_to_match([0.1, 0.5, 0.8, 0.9], 0.8) == 3
  assert compare.steps_to_match([0.1, 0.5], 0.8) is None


@pytest.mark.slow
def test_harness_runs_caches_and_renders(tmp_path, monkeypatch):
  monkeypatch.setattr(compare, "COMPARE_DIR", str(tmp_path))
  only = {"ann", "noise_t1_gaussian", "noise_t1_none", "saf_f", "ottt_a", "snn2ann_resu", "bptt"}
  runs = compare.run_setting(TINY, 1, only=only, log=lambda *_: None)
  assert set(runs) == only
  for slug, (r,) in runs.items():
    assert r["step_ms"] > 0 and r["train_seconds"] > 0 and r["at_count_T"]["spikes_per_image"] >= 0, slug
    assert set(r["snn_accuracy"]) >= {"1", "2", "4", "8"}
  assert set(runs["ann"][0]["maxnorm_snn_accuracy"]) >= {"16"}
  assert "snn_accuracy_trace_readout" in runs["saf_f"][0]
  assert not os.path.exists(tmp_path / "work" / "tiny" / "ann-s0")  # the working directory is gone
  # cached: a second call reads the files back instead of training
  again = compare.run_setting(TINY, 1, only={"ann"}, log=pytest.fail)
  assert again["ann"][0]["train_seconds"] == runs["ann"][0]["train_seconds"]
  md = "\n".join(compare.render(TINY, runs, str(tmp_path)))
  for label in ("classic, max-norm", "SAF-F (T=6)", "SNN2ANN, ReSU (T=4)", "steps classic needs",
                "Gaussian noise vs no noise", "SAF-F (T=6) / OTTT_A (T=6)"):
    assert label in md, label
  assert (tmp_path / "compare_tiny_accuracy_vs_T.png").stat().st_size > 10_000
  assert (tmp_path / "compare_tiny_accuracy_vs_cost.png").stat().st_size > 10_000
