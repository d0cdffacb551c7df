"""SIGTERM during training writes a checkpoint and exits with 128 + SIGTERM; the run resumes."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sigterm_saves_a_checkpoint_then_exits(tmp_path):
  wd = str(tmp_path / "w")
  cmd = [sys.executable, "launch.py", "--config", "configs/vit.py:smoke", "--workdir", wd,
         "--config.total_steps=100000", "--config.log_every=1",
         "--config.checkpoint.every_steps=100000", "--config.eval.evaluators=()"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")   # XLA_FLAGS: conftest.py\'s
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
  metrics = os.path.join(wd, "metrics.jsonl")
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
      break
    time.sleep(0.5)
  if proc.poll() is not None:
    pytest.fail(proc.stdout.read().decode()[-3000:])
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, out.decode()[-3000:]
  steps = [int(s) for s in os.listdir(os.path.join(wd, "checkpoints")) if s.isdigit()]
  assert len(steps) == 1 and 1 <= steps[0] < 100000, out.decode()[-4000:]
  with open(metrics) as f:
    logged = [json.loads(line)["step"] for line in f]
  assert steps[0] >= max(logged)  # the checkpoint holds the last completed step


def test_sigkill_at_random_points_resumes_bitwise(tmp_path):
  """One trial of `make test-faults` (tests/fault_injection.py): two SIGKILLs, then the run
  ends bitwise equal to an uninterrupted one with every step logged once."""
  from tests import fault_injection as fi
  reference = str(tmp_path / "reference")
  fi.run_to_end(reference, 12)
  r = fi.trial(reference, str(tmp_path / "killed"), steps=12, kills=2, seed=0)
  assert r["bitwise_equal"] and r["every_step_once"] and r["results_equal"], r
