"""One writer per workdir: a second run is refused with the holder named while the first
finishes bit for bit as it would alone; a lock left by a dead run is taken over."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from lib.analysis import load_run
from lib.errors import WorkdirError
from lib.train.loop import Trainer
from lib.train.workdir import LOCK_NAME, WorkdirLock
from tests.train.smoke import smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 40
ARGS = ["--config", "configs/vit.py:smoke", f"--config.total_steps={STEPS}",
        "--config.log_every=1", "--config.checkpoint.every_steps=10",
        "--config.eval.evaluators=()"]


def _env():
  return dict(os.environ, JAX_PLATFORMS="cpu")   # XLA_FLAGS: conftest.py\'s


def _launch(wd, *extra, **kw):
  return subprocess.Popen([sys.executable, "launch.py", "--workdir", wd, *ARGS, *extra],
                          cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          **kw)


def _wait_for_holder(wd, proc, timeout=240):
  deadline = time.time() + timeout
  path = os.path.join(wd, LOCK_NAME)
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(path) and os.path.getsize(path) > 0:
      return json.load(open(path))
    time.sleep(0.2)
  pytest.fail(f"first run never took the lock: {proc.communicate()[1].decode()[-2000:]}")


def test_second_run_is_refused_and_the_first_finishes_exactly(tmp_path):
  wd = str(tmp_path / "w")
  first = _launch(wd)
  holder = _wait_for_holder(wd, first)
  assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
  second = _launch(wd)
  _, err = second.communicate(timeout=240)
  err = " ".join(err.decode().split())   # the paragraph is wrapped for the terminal
  assert second.returncode == 2, err[-3000:]
  assert f"in use by another run (pid {first.pid} on host {socket.gethostname()}" in err
  assert "Traceback" not in err
  _, err1 = first.communicate(timeout=600)
  assert first.returncode == 0, err1.decode()[-3000:]
  # The first run is what it would have been alone.
  c = smoke_config(total_steps=STEPS, log_every=1,
                   **{"checkpoint.every_steps": 10, "eval.evaluators": ()})
  c.checkpoint.async_save = True
  alone = Trainer(c, str(tmp_path / "alone"))
  alone.run()
  for a, b in zip(jax.tree.leaves(jax.device_get(alone.final_state.params)),
                  jax.tree.leaves(load_run(wd).state.params), strict=True):
    np.testing.assert_array_equal(a, b)
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    steps = [json.loads(l)["step"] for l in f]
  assert steps == list(range(1, STEPS + 1))     # one writer: every step once, in order
  assert os.path.getsize(os.path.join(wd, LOCK_NAME)) == 0   # released on a clean exit


def test_a_stale_lock_is_taken_over(tmp_path, caplog):
  wd = tmp_path / "w"
  wd.mkdir()
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  (wd / LOCK_NAME).write_text(json.dumps(
      {"host": socket.gethostname(), "pid": dead.pid, "started": time.time() - 60,
       "command": "launch.py (killed)"}))
  c = smoke_config(total_steps=2, **{"eval.evaluators": ()})
  with caplog.at_level("WARNING"):
    out = Trainer(c, str(wd)).run()
  assert out["step"] == 2
  assert any("stale lock" in r.getMessage() and str(dead.pid) in r.getMessage()
             for r in caplog.records)


def test_a_held_lock_refuses_in_process_and_writes_nothing(tmp_path):
  wd = str(tmp_path / "w")
  with WorkdirLock(wd):
    before = sorted(os.listdir(wd))
    with pytest.raises(WorkdirError, match=rf"in use by another run \(pid {os.getpid()}"):
      Trainer(smoke_config(total_steps=2, **{"eval.evaluators": ()}), wd).run()
    assert sorted(os.listdir(wd)) == before == [LOCK_NAME]
