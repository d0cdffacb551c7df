"""Multi-process start-up: jax.distributed.initialize when flags or the environment describe
several processes (a manual coordinator, Slurm, a TPU pod slice). One process: nothing to do."""
from __future__ import annotations

import os

import jax
from absl import logging


def describes_several_processes(env=os.environ) -> bool:
  if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
    return True
  if env.get("JAX_COORDINATOR_ADDRESS") and int(env.get("JAX_NUM_PROCESSES", "1")) > 1:
    return True
  hosts = env.get("TPU_WORKER_HOSTNAMES", "")
  return len([h for h in hosts.split(",") if h]) > 1


def maybe_initialize(coordinator_address: str = "", num_processes: int = 0,
                     process_id: int = -1) -> bool:
  """Initializes jax.distributed when needed; returns whether it did."""
  if coordinator_address or num_processes > 1:
    jax.distributed.initialize(
        coordinator_address=coordinator_address or None,
        num_processes=num_processes or None,
        process_id=None if process_id < 0 else process_id)
  elif describes_several_processes():
    jax.distributed.initialize()  # Slurm, TPU pods and JAX_* variables are auto-detected.
  else:
    return False
  logging.info("process %d of %d, %d local / %d global devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  return True
