"""`load_run(workdir)`: a run's config, metrics and state restored onto the local CPU device,
whatever mesh trained it (DESIGN: Analysis contract)."""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import SingleDeviceSharding

from lib import data as data_lib
from lib.train import checkpoint as ckpt
from lib.errors import WorkdirError
from lib.train.config_io import config_from_json
from lib.train.workdir import read_config_json
from lib.train.imports import import_symbol
from lib.train.writers import read_metrics


@dataclasses.dataclass
class Run:
  workdir: str
  config: ml_collections.ConfigDict
  task: Any
  state: Any
  step: int
  metrics: list[dict]

  @property
  def params(self):
    return self.state.ema_params if getattr(self.state, "ema_params", None) is not None else self.state.params

  def predict(self, batch: dict):
    return self.task.predict(self.config, self.state, batch)

  def sample(self, rng: jax.Array, n: int, labels=None):
    return self.task.sample(self.config, self.state, rng, n, labels)


def example_batch(config: ml_collections.ConfigDict) -> dict:
  """ShapeDtypeStructs of one global batch, read from the first example of the train split."""
  it = data_lib.make_iterator(config.data, config.data.train_split, global_batch_size=1,
                              seed=config.seed, shuffle=False)
  one = next(iter(it))
  return {k: jax.ShapeDtypeStruct((config.data.batch_size,) + np.asarray(v).shape[1:],
                                  np.asarray(v).dtype) for k, v in one.items()}


def load_run(workdir: str, step: int | None = None, device=None) -> Run:
  """The run in `workdir` at `step` (default: the newest checkpoint that verifies)."""
  raw = read_config_json(workdir)
  if raw is None:
    raise WorkdirError(f"{workdir} holds no run (no config.json); name the workdir of a run")
  config = config_from_json(raw)
  device = device or jax.local_devices(backend="cpu")[0]
  task = import_symbol(config.task)
  abstract = jax.eval_shape(functools.partial(task.init, config), jax.random.key(0),
                            example_batch(config))
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                       sharding=SingleDeviceSharding(device)),
                        abstract)
  checkpoints = ckpt.Checkpoints(workdir, read_only=True)
  if not checkpoints.steps():
    raise ckpt.checkpoint_error_for_missing(workdir)
  state, _, _, step = checkpoints.restore(target, step=step, with_data=False)
  return Run(workdir, config, task, state, step, read_metrics(workdir))
