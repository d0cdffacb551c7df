"""Checkpoints: stop after step k and resume equals an uninterrupted run bit for bit; restore
onto one CPU device gives equal outputs; another config's workdir is refused; init_from works."""
import jax
import numpy as np
import pytest

from lib.analysis import load_run
from lib.train import checkpoint as ckpt
from lib.train.loop import Trainer
from lib.train.workdir import WorkdirError
from lib.train.writers import read_metrics
from tests.train.smoke import smoke_config

N, K = 6, 3


def _params(trainer):
  return jax.device_get(trainer.final_state.params)


def _assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("full") / "w")
  c = smoke_config(total_steps=N, **{"checkpoint.every_steps": 100, "eval.evaluators": ()})
  t = Trainer(c, wd)
  t.run()
  return wd, _params(t)


def test_resume_is_bitwise_identical(tmp_path, uninterrupted):
  _, full = uninterrupted
  wd = str(tmp_path / "w")
  c = smoke_config(total_steps=N, **{"checkpoint.every_steps": 100, "eval.evaluators": ()})
  out = Trainer(c, wd).run(stop_at=K)
  assert out == {"stopped_at": K}
  assert ckpt.Checkpoints(wd, read_only=True).latest_step() == K
  resumed = Trainer(c, wd)            # a fresh process would do the same: read the workdir
  assert int(jax.device_get(resumed.initial_state().step)) == K
  resumed = Trainer(c, wd)
  resumed.run()
  _assert_bitwise_equal(full, _params(resumed))


def test_restore_onto_one_cpu_device_gives_equal_outputs(uninterrupted):
  wd, full = uninterrupted
  run = load_run(wd)
  assert run.step == N
  leaves = jax.tree.leaves(run.state.params)
  assert all(len(x.devices()) == 1 for x in leaves)
  _assert_bitwise_equal(full, jax.device_get(run.state.params))
  images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
  restored_logits = run.predict({"image": images})
  model = run.task.model_of(run.config)
  ref_logits = model.apply({"params": full}, images)
  np.testing.assert_allclose(restored_logits, ref_logits, atol=1e-6)


def test_workdir_of_another_config_is_refused_and_init_from_allowed(tmp_path, uninterrupted):
  wd, full = uninterrupted
  other = smoke_config(total_steps=N, **{"optimizer.learning_rate": 0.5,
                                         "eval.evaluators": ()})
  with pytest.raises(WorkdirError, match=r"different config.*optimizer.learning_rate.*init_from"):
    Trainer(other, wd)
  # On purpose: a new workdir starting from the old run's weights.
  c = smoke_config(total_steps=N, init_from=wd, **{"eval.evaluators": ()})
  t = Trainer(c, str(tmp_path / "from"))
  state = t.initial_state()
  _assert_bitwise_equal(full, jax.device_get(state.params))
  assert int(jax.device_get(state.step)) == 0


def test_restore_onto_another_mesh(uninterrupted):
  wd, full = uninterrupted
  c = smoke_config(total_steps=N, **{"mesh.data": 1, "mesh.fsdp": 8, "sharding.fsdp_min_size": 64,
                                     "eval.evaluators": ()})
  t = Trainer(c, wd)
  state = t.initial_state()
  _assert_bitwise_equal(full, jax.device_get(state.params))
  specs = [s.spec for s in jax.tree.leaves(t.state_shardings.params)]
  assert any("fsdp" in tuple(s) for s in specs)
  kernel = state.params["block_0"]["mlp"]["fc1"]["kernel"]
  assert len(kernel.sharding.device_set) == 8


def test_mixed_precision_keeps_float32_params(tmp_path):
  c = smoke_config(total_steps=2, compute_dtype="bfloat16", **{"eval.evaluators": ()})
  t = Trainer(c, str(tmp_path / "w"))
  out = t.run()
  assert out["step"] == 2
  assert all(x.dtype == np.float32 for x in jax.tree.leaves(t.final_state.params))
  m = read_metrics(str(tmp_path / "w"))
  assert m and all(np.isfinite(r["loss"]) for r in m if "loss" in r)
