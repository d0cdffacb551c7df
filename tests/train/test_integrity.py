"""Checkpoint integrity: a damaged newest checkpoint (flipped byte, truncated file, deleted item,
empty step folder) is detected, the previous one is used, the resumed run equals an
uninterrupted one bit for bit, and no checkpoint is deleted on the way. Retention never drops
the last verified checkpoint for a newer one that does not verify.

The runs use one device: there Orbax reads the arrays from the per-process OCDBT data files,
where a flipped byte can come back as silently different values (on 8 devices it reads the
merged root database, whose CRC-32C catches flips itself)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from lib.errors import CheckpointError
from lib.train import checkpoint as ckpt
from lib.train.loop import Trainer as _Trainer
from tests.train.smoke import smoke_config

N = 6


def Trainer(config, workdir):  # noqa: N802  one device, see the module docstring
  return _Trainer(config, workdir, devices=jax.devices()[:1])


def _config(**kw):
  base = {"checkpoint.every_steps": 2, "checkpoint.keep": 3, "eval.evaluators": (),
          "log_every": 1}
  base.update(kw)
  return smoke_config(total_steps=N, **base)


def _assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  t = Trainer(_config(), str(tmp_path_factory.mktemp("ref") / "w"))
  t.run()
  return jax.device_get(t.final_state.params)


def _largest_file(folder):
  files = [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs]
  return max(files, key=os.path.getsize)


def _plain_orbax_restore(step_dir, target):
  """What Orbax alone reads back (no verification), or None when it raises."""
  manager = ocp.CheckpointManager(os.path.dirname(step_dir))
  try:
    out = manager.restore(int(os.path.basename(step_dir)),
                          args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
    return jax.device_get(out.state)
  except Exception:
    return None
  finally:
    manager.close()


def _flip_byte(step_dir, target):
  """Flips one byte of the array data so that Orbax still reads the checkpoint without
  complaint but returns different values: the silent case the checksums exist for."""
  original = _plain_orbax_restore(step_dir, target)
  path = _largest_file(os.path.join(step_dir, "state", "ocdbt.process_0", "d"))
  data = open(path, "rb").read()
  for pos in np.linspace(len(data) * 0.02, len(data) * 0.98, 40).astype(int):
    flipped = bytearray(data)
    flipped[pos] ^= 0x10
    with open(path, "wb") as f:
      f.write(bytes(flipped))
    read = _plain_orbax_restore(step_dir, target)
    if read is not None and any(not np.array_equal(a, b) for a, b in
                                zip(jax.tree.leaves(read), jax.tree.leaves(original))):
      return
  with open(path, "wb") as f:
    f.write(data)
  raise AssertionError("no byte flip found that Orbax reads back silently")


def _truncate(step_dir, target):
  """Cuts every array-data file in half, as an interrupted copy would. (One file is not enough
  to damage anything for sure: OCDBT files also hold B-tree nodes a newer version superseded,
  and cutting only those leaves every array whole, so step 4 would rightly be used.)"""
  state = os.path.join(step_dir, "state")
  for folder in (os.path.join(state, "d"), os.path.join(state, "ocdbt.process_0", "d")):
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
      path = os.path.join(folder, name)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  assert _plain_orbax_restore(step_dir, target) is None   # the damage is real: Orbax fails


def _delete_data_item(step_dir, target):
  import shutil
  shutil.rmtree(os.path.join(step_dir, "data"))


def _empty_step_folder(step_dir, target):
  import shutil
  shutil.rmtree(step_dir)
  os.makedirs(step_dir)


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _delete_data_item,
                                    _empty_step_folder], ids=lambda f: f.__name__.strip("_"))
def test_damaged_newest_checkpoint_falls_back_and_resumes_exactly(tmp_path, reference, damage,
                                                                  caplog):
  wd = str(tmp_path / "w")
  c = _config()
  assert Trainer(c, wd).run(stop_at=4) == {"stopped_at": 4}
  checkpoints = ckpt.Checkpoints(wd, read_only=True)
  assert checkpoints.steps() == [2, 4]
  t = Trainer(c, wd)
  damage(os.path.join(wd, "checkpoints", "4"), t._target())
  with caplog.at_level("WARNING"):
    state = t.initial_state()
  assert int(jax.device_get(state.step)) == 2           # the previous checkpoint is used
  assert any("step 4" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
  t = Trainer(c, wd)
  t.run()
  _assert_bitwise_equal(reference, jax.device_get(t.final_state.params))
  steps = ckpt.Checkpoints(wd, read_only=True).steps()
  assert 4 in steps and 2 in steps and N in steps       # nothing deleted, the bad one kept
  assert os.path.isdir(os.path.join(wd, "checkpoints", "4"))


def test_no_checkpoint_verifies_lists_what_was_tried(tmp_path):
  wd = str(tmp_path / "w")
  c = _config()
  Trainer(c, wd).run(stop_at=4)
  target = Trainer(c, wd)._target()
  for s in (2, 4):
    _flip_byte(os.path.join(wd, "checkpoints", str(s)), target)
  with pytest.raises(CheckpointError, match=r"no checkpoint .* verifies.*step 4: .*step 2: "):
    Trainer(c, wd).initial_state()
  assert ckpt.Checkpoints(wd, read_only=True).steps() == [2, 4]


def test_retention_keeps_the_last_verified_checkpoint(tmp_path, reference):
  """keep=1: the newest (step 3) is damaged, so step 2 must survive every prune until a newer
  checkpoint verifies; the damaged one is never deleted."""
  c2 = _config(**{"checkpoint.keep": 1, "checkpoint.every_steps": 1})
  wd2 = str(tmp_path / "w2")
  Trainer(c2, wd2).run(stop_at=3)
  target = Trainer(c2, wd2)._target()
  _flip_byte(os.path.join(wd2, "checkpoints", "3"), target)
  m = ckpt.Checkpoints(wd2, keep=1, async_save=False)
  assert m.steps() == [2, 3]
  m._abstract = target
  m._prune()                                   # 3 does not verify: 2 is kept
  assert m.steps() == [2, 3] and 3 in m.bad
  m.close()
  t = Trainer(c2, wd2)
  t.run()
  _assert_bitwise_equal(reference, jax.device_get(t.final_state.params))
  assert ckpt.Checkpoints(wd2, read_only=True).steps() == [3, N]   # bad 3 kept, 2 pruned


def test_missing_step_lists_the_steps_that_exist(tmp_path):
  wd = str(tmp_path / "w")
  c = _config()
  Trainer(c, wd).run(stop_at=4)
  with pytest.raises(CheckpointError, match=r"no checkpoint at step 7 .*\[2, 4\]"):
    ckpt.Checkpoints(wd, read_only=True).restore(Trainer(c, wd)._target(), step=7)


def _fingerprint(x):
  return ckpt.array_fingerprints({"x": x})["['x']"]


def test_fingerprint_changes_with_any_single_word_and_not_with_the_mesh():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(16, 8)).astype(np.float32)
  base = _fingerprint(jnp.asarray(x))
  words = x.view(np.uint32).copy()
  for i in rng.choice(x.size, 20, replace=False):
    for bit in (0, 13, 31):
      w = words.copy().reshape(-1)
      w[i] ^= np.uint32(1 << bit)
      assert _fingerprint(jnp.asarray(w.view(np.float32).reshape(x.shape))) != base
  # Swapping two elements changes it too (position-weighted, not a plain sum).
  y = x.copy().reshape(-1)
  y[[0, 1]] = y[[1, 0]]
  assert _fingerprint(jnp.asarray(y.reshape(x.shape))) != base
  # The same values sharded over 8 devices give the same fingerprint.
  mesh = jax.make_mesh((8,), ("d",))
  sharded = jax.device_put(x, NamedSharding(mesh, P("d", None)))
  assert _fingerprint(sharded) == base
  for dtype in (jnp.bfloat16, jnp.int32, jnp.bool_, jnp.uint8):
    a = jnp.asarray(rng.normal(size=(5, 3)) > 0).astype(dtype)
    assert len(_fingerprint(a)) == 16
