"""The sharded train step equals the single-device step (data, fsdp and model meshes), and it
is traced once over several steps."""
import jax
import numpy as np
import pytest

from lib.train.loop import Trainer
from tests.train.smoke import smoke_config

STEPS = 3


def _train(tmp_path, name, devices=None, **overrides):
  c = smoke_config(total_steps=STEPS, **{"eval.evaluators": ()}, **overrides)
  trainer = Trainer(c, str(tmp_path / name), devices=devices)
  trainer.run()
  return trainer


@pytest.fixture(scope="module")
def single(tmp_path_factory):
  t = _train(tmp_path_factory.mktemp("single"), "w", devices=jax.devices()[:1])
  return jax.device_get(t.final_state.params)


MESHES = {
    "data": {"mesh.data": 8},
    "fsdp": {"mesh.data": 1, "mesh.fsdp": 8, "sharding.fsdp_min_size": 64},
    "model": {"mesh.data": 2, "mesh.model": 4,
              "sharding.rules": ((r".*mlp/fc1/kernel", (None, "model")),
                                 (r".*mlp/fc2/kernel", ("model", None)))},
}


@pytest.mark.parametrize("mesh", sorted(MESHES))
def test_sharded_step_equals_single_device(tmp_path, single, mesh):
  t = _train(tmp_path, mesh, **MESHES[mesh])
  sharded = jax.device_get(t.final_state.params)
  flat_a = jax.tree_util.tree_leaves_with_path(single)
  flat_b = jax.tree.leaves(sharded)
  assert len(flat_a) == len(flat_b)
  for (path, a), b in zip(flat_a, flat_b):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=jax.tree_util.keystr(path))
  # The requested layout really is in place (not silently replicated).
  specs = {jax.tree_util.keystr(p): s.spec
           for p, s in jax.tree_util.tree_leaves_with_path(t.state_shardings.params)}
  if mesh == "fsdp":
    assert any("fsdp" in tuple(s) for s in specs.values())
  if mesh == "model":
    fc1 = [s for p, s in specs.items() if "fc1" in p and "kernel" in p]
    assert fc1 and all(tuple(s) == (None, "model") for s in fc1)
  assert t.trace_count == 1  # compiled once over all steps: no retrace
