"""Bad input through launch.py, as a user meets it: exit status 2, one message naming the
problem and the fix, no traceback, and nothing in the workdir created or changed."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib.train.loop import Trainer
from tests.train.smoke import smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = ["--config", "configs/vit.py:smoke", "--config.eval.evaluators=()"]


def _launch(*args, timeout=300):
  env = dict(os.environ, JAX_PLATFORMS="cpu")   # XLA_FLAGS: conftest.py\'s
  p = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                     capture_output=True, timeout=timeout)
  return p.returncode, p.stdout.decode(), p.stderr.decode()


def _snapshot(folder):
  out = {}
  for root, _, files in os.walk(folder):
    for f in files:
      path = os.path.join(root, f)
      with open(path, "rb") as fh:
        out[os.path.relpath(path, folder)] = (os.stat(path).st_mtime_ns,
                                              hashlib.sha256(fh.read()).hexdigest())
  return out


def _assert_one_clean_message(rc, err, *patterns):
  assert rc == 2, err[-3000:]
  assert "Traceback" not in err, err[-3000:]
  assert err.count("error:") == 1, err[-3000:]
  flat = " ".join(err.split())
  for p in patterns:
    assert p in flat, (p, flat[-2000:])


def _folder(folder, n=40, bad=()):
  """n 8x8 gray PNGs with pixel value 5 i (so a batch tells which files it holds); the
  indices in `bad` are truncated files."""
  folder.mkdir(parents=True)
  for i in range(n):
    path = folder / f"img_{i:03d}.png"
    Image.fromarray(np.full((8, 8), 5 * i, np.uint8)).save(path)
    if i in bad:
      data = path.read_bytes()
      path.write_bytes(data[: len(data) // 2])
  return str(folder)


FRESH_CASES = {
    "unknown_key": (["--config.nosuch=1"], ["--config.nosuch=1", "no key 'nosuch'",
                                            "keys at that level"]),
    "wrong_type": (["--config.total_steps=many"], ["--config.total_steps=many"]),
    "zero_steps": (["--config.total_steps=0"], ["total_steps=0 must be >= 1"]),
    "negative_steps": (["--config.total_steps=-5"], ["total_steps=-5 must be >= 1"]),
    "unknown_evaluator": (["--config.eval.evaluators=('nope',)"], ["names ['nope']", "known"]),
    "mesh_misfit": (["--config.mesh.model=3"], ["does not fit 8 devices"]),
    "batch_vs_mesh": (["--config.data.batch_size=12"], ["batch_size=12 is not divisible"]),
    "missing_data": (["--config.data.source=folder", "--config.data.path=/nonexistent/imgs"],
                     ["config.data.train_split", "/nonexistent/imgs", "does not exist"]),
    "unknown_source": (["--config.data.source=mnistt"], ["config.data.source='mnistt'"]),
}


@pytest.mark.parametrize("case", sorted(FRESH_CASES))
def test_bad_input_on_a_new_workdir_creates_nothing(tmp_path, case):
  args, patterns = FRESH_CASES[case]
  wd = str(tmp_path / "w")
  rc, _, err = _launch(*SMOKE, "--workdir", wd, *args)
  _assert_one_clean_message(rc, err, *patterns)
  assert not os.path.exists(wd)


def test_missing_eval_split_and_a_bad_first_image_are_found_before_training(tmp_path):
  folder = _folder(tmp_path / "good", n=20)
  wd = str(tmp_path / "w")
  rc, _, err = _launch(*SMOKE[:2], "--workdir", wd, "--config.data.source=folder",
                       f"--config.data.path={folder}", "--config.data.channels=1",
                       "--config.eval.evaluators=('accuracy',)")
  _assert_one_clean_message(rc, err, "config.data.eval_split='test'", "no 'test' subfolder")
  assert not os.path.exists(wd)
  folder = _folder(tmp_path / "bad", n=20, bad=(0,))
  rc, _, err = _launch(*SMOKE, "--workdir", wd, "--config.data.source=folder",
                       f"--config.data.path={folder}", "--config.data.channels=1")
  _assert_one_clean_message(rc, err, "img_000.png could not be read", "replace or remove")
  assert not os.path.exists(wd)


def test_a_bad_image_met_mid_run_is_named(tmp_path):
  from lib import data as data_lib
  c = smoke_config(**{"data.source": "folder", "data.path": _folder(tmp_path / "good", n=48),
                      "data.channels": 1, "eval.evaluators": ()})
  it = data_lib.make_iterator(c.data, "train", global_batch_size=c.data.batch_size, seed=c.seed,
                              shuffle=True, augment=c.data.augment)
  first = {int(round((np.asarray(x).max() + 1) / 2 * 255 / 5)) for x in next(it)["image"]}
  later = sorted(set(range(48)) - first)[0]     # not read before training starts
  folder = _folder(tmp_path / "bad", n=48, bad=(later,))
  wd = str(tmp_path / "w")
  rc, _, err = _launch(*SMOKE, "--workdir", wd, "--config.data.source=folder",
                       f"--config.data.path={folder}", "--config.data.channels=1",
                       "--config.total_steps=50")
  _assert_one_clean_message(rc, err, f"img_{later:03d}.png could not be read")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("run") / "w")
  c = smoke_config(total_steps=4, **{"checkpoint.every_steps": 2, "eval.evaluators": ()})
  c.checkpoint.async_save = True     # as launch.py's smoke config has it
  Trainer(c, wd).run()
  return wd


EXISTING_CASES = {
    "total_steps_reached": (SMOKE + ["--config.total_steps=3"],
                            ["already at step 4", "total_steps=3", "--mode eval"]),
    "batch_size_changed": (SMOKE + ["--config.data.batch_size=32"],
                           ["different config", "data.batch_size: 16 -> 32"]),
    "missing_step": (["--mode", "eval", "--step", "7"],
                     ["no checkpoint at step 7", "[2, 4]"]),
    "sample_a_classifier": (["--mode", "sample"], ["has no sampler", "--mode eval"]),
}


@pytest.mark.parametrize("case", sorted(EXISTING_CASES))
def test_bad_input_on_an_existing_run_changes_nothing(finished_run, case):
  args, patterns = EXISTING_CASES[case]
  before = _snapshot(finished_run)
  rc, _, err = _launch("--workdir", finished_run, *args)
  _assert_one_clean_message(rc, err, *patterns)
  assert _snapshot(finished_run) == before


def test_eval_of_a_missing_run_creates_no_folder(tmp_path):
  wd = str(tmp_path / "nothing")
  rc, _, err = _launch("--mode", "eval", "--workdir", wd)
  _assert_one_clean_message(rc, err, "holds no run", "--config")
  rc, _, err = _launch("--mode", "eval", "--workdir", wd, *SMOKE)
  _assert_one_clean_message(rc, err, "does not exist")
  assert not os.path.exists(wd)


def test_debug_shows_the_traceback(tmp_path):
  rc, _, err = _launch(*SMOKE, "--workdir", str(tmp_path / "w"), "--config.total_steps=0",
                       "--debug")
  assert rc != 0 and "Traceback" in err and "ConfigError" in err


def test_nan_advice_names_the_keys_of_the_task():
  from configs import dcgan
  from lib.errors import NonFiniteError
  from lib.train.nan_guard import check_finite
  from lib.train.validate import learning_rate_keys
  keys = learning_rate_keys(dcgan.get_config("smoke"))
  assert sorted(keys) == ["optimizer_d.learning_rate", "optimizer_g.learning_rate"]
  with pytest.raises(NonFiniteError, match=r"--config\.optimizer_d\.learning_rate and "
                                           r"--config\.optimizer_g\.learning_rate") as e:
    check_finite(3, {"d_loss": float("nan")}, 2, "w", keys)
  assert "--config.optimizer.learning_rate" not in str(e.value)
  assert learning_rate_keys(smoke_config()) == ["optimizer.learning_rate"]
