"""configs/gan_study.py:rings end to end: the `rings` source (deterministic per seed, points
near the 8 centres), the `ring_modes` evaluator against an independent numpy count, and a
2-run sweep through lib.studies.runner.run_local whose report rows are the runs' results.json."""
import csv
import json
import os

import jax
import numpy as np
import pytest

from configs import gan_study
from lib.data.sources import make_source
from lib.errors import ConfigError
from lib.studies import report, runner
from lib.studies import sweep as sweep_lib
from lib.tasks import gan
from lib.train import ring_evaluators
from lib.train.evaluators import EvalContext, evaluator_factory

CENTRES = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)


def _points(seed, split="train", n=4000):
  cfg = {"source": "rings", "rings_seed": seed, f"num_{split}": n}
  src = make_source(cfg, split)
  return np.stack([src[i]["image"] for i in range(len(src))]), src


def test_rings_source_is_deterministic_and_on_the_ring():
  a, src = _points(0)
  b, _ = _points(0)
  c, _ = _points(1)
  assert a.shape == (4000, 1, 1, 2) and a.dtype == np.float32 and src.image_shape == (1, 1, 2)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  d = np.linalg.norm(a.reshape(-1, 2)[:, None] - CENTRES[None], axis=-1)
  assert d.min(1).max() < 6 * 0.05                      # every point near a centre
  labels = np.array([src[i]["label"] for i in range(len(src))])
  np.testing.assert_array_equal(d.argmin(1), labels)     # label = its mode
  assert set(np.bincount(labels, minlength=8) > 300) == {True}   # all 8 modes drawn
  assert len(make_source({"source": "rings"}, "train")) == 1 << 20


def _numpy_modes(points, std=0.05):
  """Independent count: a centre is covered with >= 1% of the points within 3 std."""
  covered, near_any = 0, np.zeros(len(points), bool)
  for c in CENTRES:
    near = np.sqrt(((points - c) ** 2).sum(1)) < 3 * std
    covered += near.sum() >= 0.01 * len(points)
    near_any |= near
  return covered, near_any.mean()


class _State:
  def __init__(self, params, model_state):
    self.params, self.model_state, self.ema_params = {"G": params}, {"G": model_state}, None


def test_ring_modes_matches_numpy_count(monkeypatch):
  rng = np.random.default_rng(0)
  pts = np.concatenate([CENTRES[k] + 0.03 * rng.standard_normal((300, 2)) for k in (0, 2, 3, 5, 7)]
                       + [CENTRES[1] + 0.01 * rng.standard_normal((10, 2)),   # < 1%: not a mode
                          rng.uniform(-4, 4, (490, 2))])
  rng.shuffle(pts)
  pts = pts[:2000]
  want_modes, want_hq = _numpy_modes(pts)
  # the evaluator on a "generator" that returns these points (its raw output, unclipped)
  monkeypatch.setattr(ring_evaluators, "generator_points",
                      lambda config, state, key, n=2000: jax.numpy.asarray(pts[:n]))
  c = gan_study.get_config("rings")
  fn = evaluator_factory("ring_modes")(EvalContext(c, gan, None, None, "/nonexistent"))
  got = fn(None, 0, True)
  assert got["modes"] == want_modes and abs(got["high_quality"] - want_hq) < 1e-12
  assert want_modes == 5                                # the constructed set: 5 modes


def test_ring_modes_counts_five_of_eight():
  from lib.data.rings import mode_coverage
  pts = np.concatenate([CENTRES[:5].repeat(200, 0), np.full((1000, 2), 9.0)])
  assert mode_coverage(pts) == {"modes": 5, "high_quality": 0.5}
  assert _numpy_modes(pts) == (5, 0.5)


def test_generator_points_are_unclipped():
  c = gan_study.rings_config(steps=1)
  batch = {"image": np.zeros((4, 1, 1, 2), np.float32)}
  state = gan.init(c, jax.random.key(0), batch)
  # scale the output layer: raw outputs leave [-1, 1]; gan.sample would clip them
  state = state.replace(params={**state.params, "G": jax.tree.map(lambda x: x * 50.0,
                                                                    state.params["G"])})
  pts = np.asarray(ring_evaluators.generator_points(c, state, jax.random.key(1), 500))
  assert pts.shape == (500, 2) and np.abs(pts).max() > 1.5


def test_rings_sweep_expands_and_rejects_bad_names():
  path, sw = sweep_lib.load_sweep("configs/gan_study.py:rings")
  runs = sweep_lib.expand(path, sw)
  assert len(runs) == 3 * 4 * 5 and sw.metric == "modes" and sw.mode == "max"
  r1r2 = [r for r in runs if r.setting["gan.r2_gamma"]]
  assert {r.setting["gan.r1_gamma"] for r in r1r2} == {0.1} and len(r1r2) == 15
  assert {r.setting["gan.gp_weight"] for r in runs} == {0.0, 0.1}
  path, sw = sweep_lib.load_sweep("configs/gan_study.py:digits_study")
  runs = sweep_lib.expand(path, sw)
  assert len(runs) == 36 and (sw.metric, sw.mode) == ("fid", "min")
  assert {r.setting["gan.gp_weight"] for r in runs} == {0.0, 10.0}
  with pytest.raises(ConfigError, match="regs"):
    sweep_lib.load_sweep("configs/gan_study.py:rings,regs=none+r3")


def test_two_run_rings_sweep_reports_its_results(tmp_path):
  root = str(tmp_path / "study")
  spec = "configs/gan_study.py:rings,losses=relativistic,regs=none+r1r2,seeds=1,steps=20"
  status = runner.run_local(spec, root, parallel=2, log=lambda *_: None)
  assert sorted(status.values()) == [0, 0]
  report.write_report(root)
  with open(os.path.join(root, "results.csv")) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2
  for row in rows:
    with open(os.path.join(root, row["run"], "results.json")) as f:
      res = json.load(f)
    assert row["status"] == "finished" and int(res["step"]) == 20
    assert int(float(row["modes"])) == res["modes"]
    assert float(row["high_quality"]) == pytest.approx(res["high_quality"])
  md = open(os.path.join(root, "results.md")).read()
  assert "2 of 2 runs finished" in md and "modes mean" in md
