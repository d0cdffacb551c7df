"""Run's notebook helpers: compare (config and final-metric differences), metrics_frame
(pandas), final_metrics, sample(truncation=) and the treescope views."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from configs import cgan, vit
from lib.analysis import Run
from lib.analysis import run as run_lib
from lib.errors import ConfigError
from lib.tasks import classify, gan


def _vit_run(workdir, metrics=(), **overrides):
  config = vit.get_config("smoke")
  for key, value in overrides.items():
    *path, last = key.split(".")
    node = config
    for p in path:
      node = node[p]
    node[last] = value
  batch = {"image": jnp.zeros((2, 16, 16, 1)), "label": jnp.zeros((2,), jnp.int32)}
  state = jax.jit(lambda r, b: classify.init(config, r, b))(jax.random.key(0), batch)
  return Run(str(workdir), config, classify, state, 4, list(metrics))


def test_compare_lists_changed_keys_and_metric_deltas(tmp_path):
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  a = _vit_run(tmp_path / "a", [{"step": 4, "loss": 1.0, "accuracy": 0.5}],
               **{"optimizer.learning_rate": 3e-4, "model.depth": 2})
  b = _vit_run(tmp_path / "b", [{"step": 2, "loss": 2.0}, {"step": 4, "loss": 1.5,
                                                           "accuracy": 0.25}])
  diff = a.compare(b)
  assert diff["config"] == {"optimizer.learning_rate": (3e-4, 1e-3), "model.depth": (2, 1)}
  # no results.json: the last metrics row of each, mine - theirs
  assert diff["metrics"] == {"accuracy": (0.5, 0.25, 0.25), "loss": (1.0, 1.5, -0.5)}
  assert a.compare(a) == {"config": {}, "metrics": {"accuracy": (0.5, 0.5, 0.0),
                                                    "loss": (1.0, 1.0, 0.0)}}
  # results.json wins over the metrics rows; text and NaN metrics get no delta
  with open(tmp_path / "a" / "results.json", "w") as f:
    json.dump({"step": 4, "accuracy": 0.75, "note": "x", "fid": float("nan")}, f)
  with open(tmp_path / "b" / "results.json", "w") as f:
    json.dump({"step": 4, "accuracy": 0.5, "note": "y", "fid": 3.0}, f)
  final = a.final_metrics()          # the step is left out
  assert set(final) == {"accuracy", "note", "fid"} and final["accuracy"] == 0.75
  assert math.isnan(final["fid"])
  assert a.compare(b)["metrics"] == {"accuracy": (0.75, 0.5, 0.25)}
  # a key only one run has
  with b.config.unlocked():
    b.config.extra = 1
  assert b.compare(a)["config"]["extra"] == (1, run_lib.MISSING)


def test_metrics_frame_matches_curves(tmp_path):
  rows = [{"step": 2, "loss": 1.5}, {"step": 4, "loss": 1.0, "accuracy": 0.5}]
  run = _vit_run(tmp_path, rows)
  frame = run.metrics_frame()
  assert isinstance(frame, pd.DataFrame)
  assert list(frame.index) == [2, 4] and frame.index.name == "step"
  assert list(frame.columns) == ["accuracy", "loss"]
  assert frame.loc[4, "accuracy"] == 0.5 and math.isnan(frame.loc[2, "accuracy"])
  np.testing.assert_array_equal(frame["loss"].to_numpy(), run.curves()["loss"])


def test_show_params_and_config_hand_treescope_the_trees(tmp_path, monkeypatch):
  import treescope
  shown = []
  monkeypatch.setattr(treescope, "display", lambda value, **kw: shown.append(value))
  run = _vit_run(tmp_path)
  run.show_params()
  run.show_config()
  params, config = shown
  assert jax.tree.structure(params) == jax.tree.structure(run.params)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, np.asarray(y)), params, run.params)
  assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(params))   # host copies
  assert config["model"]["name"] == "research.vit.model.ViT"
  assert "<div" in treescope.render_to_html(params)   # and treescope renders them


def test_sample_truncation_is_gan_truncation_for_one_call(tmp_path):
  config = cgan.get_config("smoke")
  batch = {"image": jnp.zeros((2, 16, 16, 1)), "label": jnp.zeros((2,), jnp.int32)}
  state = jax.jit(lambda r, b: gan.init(config, r, b))(jax.random.key(0), batch)
  run = Run(str(tmp_path), config, gan, state, 0, [])
  rng, labels = jax.random.key(5), np.arange(4, dtype=np.int32)
  truncated = np.asarray(run.sample(rng, 4, labels, truncation=0.5))
  want_config = cgan.get_config("smoke")
  want_config.gan.truncation = 0.5
  np.testing.assert_allclose(truncated, np.asarray(gan.sample(want_config, state, rng, 4, labels)),
                             atol=1e-6)
  assert run.config.gan.truncation == 0.0          # the run's own config is unchanged
  plain = np.asarray(run.sample(rng, 4, labels))
  np.testing.assert_allclose(plain, np.asarray(gan.sample(config, state, rng, 4, labels)))
  assert np.abs(plain - truncated).max() > 1e-4    # truncation resampled some z
  with pytest.raises(ConfigError, match="needs a GAN run"):
    _vit_run(tmp_path).sample(rng, 2, truncation=0.5)
