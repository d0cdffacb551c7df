"""Two processes x 2 CPU devices, started through jax.distributed by launch.py flags, train the
same params as one process (per-process data shards joined into global batches)."""
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from lib.analysis import load_run
from lib.train.distributed import describes_several_processes
from lib.train.loop import Trainer
from tests.train.smoke import smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_environment_detection():
  assert not describes_several_processes({})
  assert describes_several_processes({"SLURM_NTASKS": "4", "SLURM_PROCID": "1"})
  assert not describes_several_processes({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"})
  assert describes_several_processes({"TPU_WORKER_HOSTNAMES": "a,b"})
  assert describes_several_processes({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2"})


def test_two_processes_train_like_one(tmp_path):
  wd = str(tmp_path / "mp")
  port = _free_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="2",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  procs = [subprocess.Popen(
      [sys.executable, "launch.py", "--config", "configs/vit.py:smoke", "--workdir", wd,
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}",
       "--config.eval.evaluators=('accuracy',)", "--config.checkpoint.async_save=False"],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(2)]
  outs = [p.communicate(timeout=300)[0].decode() for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]
  assert all('"eval_examples": 297' in out for out in outs)  # each saw the global eval split

  c = smoke_config(**{"eval.evaluators": ()})
  single = Trainer(c, str(tmp_path / "one"))
  single.run()
  multi = load_run(wd)
  assert multi.step == c.total_steps
  for a, b in zip(jax.tree.leaves(jax.device_get(single.final_state.params)),
                  jax.tree.leaves(jax.device_get(multi.state.params))):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
