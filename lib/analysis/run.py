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
from lib.analysis.intermediates import sown_intermediates
from lib.errors import ConfigError, WorkdirError
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

  def curves(self) -> dict[str, list]:
    """The metrics as columns {name: [value per logged row]} with 'step' first; a metric
    absent from a row (an evaluator's cadence) is NaN there. (pandas is not a dependency:
    `pd.DataFrame(run.curves())` where it is installed.)"""
    names = ["step"] + sorted({k for row in self.metrics for k in row} - {"step"})
    nan = float("nan")
    return {k: [row.get(k, nan) for row in self.metrics] for k in names}

  def intermediates(self, batch, attention_weights: bool = True, capture=None) -> dict:
    """Every value the model sows on `batch` (a dict with 'image', or the input array) with
    the params analysis uses (EMA when kept), applied as the task predicts (train=False):
    e.g. intermediates['block_0']['attn']['attention_weights'] = ([B, N, T, S],). See
    lib.analysis.intermediates.sown_intermediates for `attention_weights` and `capture`."""
    model_of = getattr(self.task, "model_of", None)
    if model_of is None or "model" not in self.config or "name" not in self.config.model:
      raise ConfigError(f"the task {self.config.task} has no single model (config.model) to "
                        "apply; call lib.analysis.intermediates.sown_intermediates on the "
                        "module and params you want (e.g. run.params['G'])")
    inputs = batch["image"] if isinstance(batch, dict) else batch
    model_state = getattr(self.state, "model_state", None) or {}
    variables = {"params": self.params, **model_state}
    model = model_of(self.config)
    apply = jax.jit(lambda v, x: sown_intermediates(model, v, x, attention_weights=attention_weights,
                                                    capture=capture, train=False)[1])
    return jax.device_get(apply(variables, jax.numpy.asarray(inputs)))


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
