"""A full disk mid-run: one paragraph naming the filesystem and the space needed, exit status
2, no traceback, and the last good checkpoint intact (a small tmpfs; skipped where mounting
is not allowed)."""
import os
import subprocess
import sys

import pytest

from lib.train import checkpoint as ckpt
from lib.train.loop import Trainer
from tests.train.smoke import smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def small_disk(tmp_path):
  mnt = tmp_path / "mnt"
  mnt.mkdir()
  p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                     capture_output=True)
  if p.returncode:
    pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode().strip()}")
  yield mnt
  subprocess.run(["umount", "-l", str(mnt)], check=False)  # lazy: never left mounted


def test_disk_full_mid_run_is_one_message_and_keeps_the_last_checkpoint(small_disk):
  wd = str(small_disk / "w")
  c = smoke_config(total_steps=8, **{"checkpoint.every_steps": 2, "eval.evaluators": ()})
  t = Trainer(c, wd)
  t.run(stop_at=2)
  target = t._target()
  before = ckpt.Checkpoints(wd, read_only=True).steps()
  assert before == [2]
  # Fill the disk, leaving a few KiB: enough to start, not for the next checkpoint.
  st = os.statvfs(small_disk)
  with open(small_disk / "filler", "wb") as f:
    f.write(b"\0" * (st.f_bavail * st.f_frsize - 24 * 1024))
  env = dict(os.environ, JAX_PLATFORMS="cpu")   # XLA_FLAGS: conftest.py\'s
  p = subprocess.run(
      [sys.executable, "launch.py", "--config", "configs/vit.py:smoke", "--workdir", wd,
       "--config.total_steps=8", "--config.checkpoint.every_steps=2",
       "--config.checkpoint.async_save=False", "--config.eval.evaluators=()"],
      cwd=ROOT, env=env, capture_output=True, timeout=300)
  err = p.stderr.decode()
  flat = " ".join(err.split())
  assert p.returncode == 2, err[-4000:]
  assert "Traceback" not in err and err.count("error:") == 1, err[-4000:]
  assert "disk full" in flat and str(small_disk) in flat and " free of " in flat, flat
  assert "needs about" in flat, flat
  os.remove(small_disk / "filler")
  checkpoints = ckpt.Checkpoints(wd, read_only=True)
  assert 2 in checkpoints.steps()
  _, _, _, step = checkpoints.restore(target, step=2)     # verifies
  assert step == 2 and 2 in checkpoints.verified
