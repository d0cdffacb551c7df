"""A run's config, task and state restored from its workdir onto one local device, whatever
mesh trained it: the core of lib.analysis.load_run, and what a task uses to read another
run (DeiT's teacher) without importing the analysis layer above it."""
from __future__ import annotations

import functools
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import SingleDeviceSharding

from lib import data as data_lib
from lib.errors import CheckpointError, WorkdirError
from lib.train import checkpoint as ckpt
from lib.train.config_io import config_from_json
from lib.train.imports import import_symbol
from lib.train.workdir import read_config_json


def example_batch(config: ml_collections.ConfigDict) -> dict:
  """ShapeDtypeStructs of one global batch, read from the first example of the train split."""
  it = data_lib.make_iterator(config.data, config.data.train_split, global_batch_size=1,
                              seed=config.seed, shuffle=False)
  one = next(iter(it))
  return {k: jax.ShapeDtypeStruct((config.data.batch_size,) + np.asarray(v).shape[1:],
                                  np.asarray(v).dtype) for k, v in one.items()}


def restore_run(workdir: str, step: int | None = None,
                device=None) -> tuple[ml_collections.ConfigDict, Any, Any, int]:
  """(config, task module, state on `device` (default: the first local CPU), step) of the run
  in `workdir` at `step` (default: the newest checkpoint that verifies)."""
  raw = read_config_json(workdir)
  if raw is None:
    raise WorkdirError(f"{workdir} holds no run (no config.json); name the workdir of a run")
  config = config_from_json(raw)
  checkpoints = ckpt.Checkpoints(workdir, read_only=True)
  steps = checkpoints.steps()
  if not steps:
    raise CheckpointError(f"{workdir} holds no checkpoint (steps: none; no "
                          f"{workdir}/checkpoints/<step>); train it first: python launch.py "
                          f"--config ... --workdir {workdir}, or load a workdir that has some")
  if step is not None and step not in steps:
    raise CheckpointError(f"{workdir} has no checkpoint at step {step}; its steps are {steps}. "
                          "Pass one of them, load_run(workdir, step=...), or step=None for "
                          "the newest that verifies")
  device = device or jax.local_devices(backend="cpu")[0]
  task = import_symbol(config.task)
  abstract = jax.eval_shape(functools.partial(task.init, config), jax.random.key(0),
                            example_batch(config))
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                       sharding=SingleDeviceSharding(device)),
                        abstract)
  state, _, _, step = checkpoints.restore(target, step=step, with_data=False)
  return config, task, state, step
