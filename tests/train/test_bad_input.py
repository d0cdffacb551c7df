"""Bad input gives a clear error before compiling: unknown key, wrong type, a mesh that does not
fit, unwritable workdir, NaN in training, corrupt checkpoint."""
import os
import re
import sys

import jax
import pytest
from absl import flags
from ml_collections import config_flags

from lib.train import checkpoint as ckpt
from lib.train.loop import Trainer
from lib.train.nan_guard import NonFiniteError
from tests.train.smoke import smoke_config


def _parse(*overrides):
  """Parses a command line exactly as launch.py does (config_flags reads sys.argv)."""
  argv = ["launch.py", "--config", "configs/vit.py:smoke", *overrides]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv, lock_config=True)
  old, sys.argv = sys.argv, argv
  try:
    fv(argv)
  finally:
    sys.argv = old
  return fv.config


def test_override_parses():
  assert _parse("--config.total_steps=7").total_steps == 7


def test_unknown_key_is_a_clear_error():
  with pytest.raises(Exception, match="total_stepz"):
    _parse("--config.total_stepz=7")


def test_wrong_type_is_a_clear_error():
  with pytest.raises(Exception, match=r"(?i)total_steps.*(int|type)|could not parse|invalid"):
    _parse("--config.total_steps=many")


def test_mesh_that_does_not_fit_is_refused_before_compiling(tmp_path):
  c = smoke_config(**{"mesh.data": -1, "mesh.model": 3})
  with pytest.raises(ValueError, match=r"does not fit 8 devices.*divide"):
    Trainer(c, str(tmp_path / "w"))
  c = smoke_config(**{"mesh.data": 2, "mesh.model": 2})
  with pytest.raises(ValueError, match=r"needs 4 devices but 8 are present.*-1"):
    Trainer(c, str(tmp_path / "w2"))
  assert not os.path.exists(tmp_path / "w" / "checkpoints")


def test_unwritable_workdir(tmp_path):
  ro = tmp_path / "ro"
  ro.mkdir()
  (ro / "file").write_text("x")
  with pytest.raises(Exception, match=r"not writable.*--workdir"):
    Trainer(smoke_config(), str(ro / "file" / "w"))


def test_nan_stops_with_step_and_metric_named(tmp_path):
  c = smoke_config(total_steps=8, **{"optimizer.learning_rate": 1e12, "optimizer.clip_norm": 0.0,
                                     "optimizer.warmup_steps": 0, "checkpoint.every_steps": 1,
                                     "log_every": 1, "eval.evaluators": ()})
  wd = str(tmp_path / "w")
  with pytest.raises(NonFiniteError, match=r"metric '\w+' is (nan|inf|-inf) at step \d+") as e:
    Trainer(c, wd).run()
  failing = int(re.search(r"at step (\d+)", str(e.value)).group(1))
  saved = ckpt.Checkpoints(wd, read_only=True).steps()
  assert failing > 1 and saved, (failing, saved)  # this setting fails after a good checkpoint
  assert max(saved) < failing and f"newest checkpoint written is step {max(saved)}" in str(e.value)
  state = Trainer(c, wd).initial_state()  # what resumes is finite
  assert all(bool(jax.numpy.isfinite(x).all()) for x in jax.tree.leaves(state.params))
