"""load_run guarantees (issue 13): a ViT trained on an 8-device FSDP mesh restores onto one
device with every array equal to the trainer's own state and the same predictions; a missing
checkpoint or step raises CheckpointError naming the steps there are."""
import os
import shutil

import jax
import numpy as np
import pytest

from configs import vit
from lib import data as data_lib
from lib.analysis import load_run
from lib.errors import CheckpointError, WorkdirError
from lib.tasks import classify
from lib.train.loop import Trainer


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
  config = vit.get_config("smoke")
  config.checkpoint.async_save = False
  config.mesh.data, config.mesh.fsdp = 1, 8
  config.sharding.preset = "fsdp"
  config.sharding.fsdp_min_size = 64           # shard the tiny model's kernels for real
  workdir = str(tmp_path_factory.mktemp("vit_fsdp"))
  trainer = Trainer(config, workdir)
  trainer.run()
  return config, workdir, trainer


def test_fsdp_checkpoint_restores_on_one_device_with_equal_outputs(fsdp_run):
  config, workdir, trainer = fsdp_run
  assert len(jax.devices()) == 8
  trained = trainer.final_state
  sharded = [x for x in jax.tree.leaves(trained.params) if not x.sharding.is_fully_replicated]
  assert sharded and all(len(x.sharding.device_set) == 8 for x in sharded)
  run = load_run(workdir)
  assert run.step == config.total_steps == 4
  leaves = jax.tree.leaves(run.state)
  assert all(len(x.sharding.device_set) == 1 for x in leaves if isinstance(x, jax.Array))
  want = jax.device_get(trained)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(run.state), want)
  it = data_lib.make_iterator(config.data, config.data.eval_split, global_batch_size=16,
                              seed=0, shuffle=False)
  batch = {k: np.asarray(v) for k, v in next(iter(it)).items()}
  got = np.asarray(run.predict(batch))
  assert got.shape == (16, config.model.num_classes)
  np.testing.assert_allclose(got, np.asarray(classify.predict(config, want, batch)), atol=1e-6)
  # and the trainer's sharded state predicts the same on its 8-device mesh
  with jax.set_mesh(trainer.mesh):
    on_mesh = classify.predict(config, trained, batch)
  np.testing.assert_allclose(got, np.asarray(on_mesh), atol=1e-5)


def test_an_older_step_loads_and_a_missing_one_names_the_steps(fsdp_run):
  config, workdir, _ = fsdp_run
  assert load_run(workdir, step=2).step == 2
  with pytest.raises(CheckpointError, match=r"no checkpoint at step 3; its steps are \[2, 4\]"):
    load_run(workdir, step=3)


def test_a_workdir_without_checkpoints_says_so(fsdp_run, tmp_path):
  _, workdir, _ = fsdp_run
  bare = tmp_path / "bare"
  bare.mkdir()
  shutil.copy(os.path.join(workdir, "config.json"), bare / "config.json")
  with pytest.raises(CheckpointError, match="holds no checkpoint.*steps: none.*launch.py"):
    load_run(str(bare))
  with pytest.raises(CheckpointError, match="steps: none"):
    load_run(str(bare), step=4)
  with pytest.raises(WorkdirError, match="no config.json"):
    load_run(str(tmp_path / "nothing"))
