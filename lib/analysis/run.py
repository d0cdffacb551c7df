"""`load_run(workdir)`: a run's config, metrics and state restored onto the local CPU device,
whatever mesh trained it (DESIGN: Analysis contract).

Guarantees (tests/analysis/test_load_run*.py): a checkpoint written on any mesh (e.g. 8
devices with FSDP) restores onto one device and predicts/samples exactly what the trained
state does; a workdir without checkpoints, or a `step` that has none, raises CheckpointError
naming the steps there are. Notebook helpers: `metrics_frame()` (pandas), `compare(other)`
(config and final-metric differences), `show_params()` / `show_config()` (treescope).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from lib.analysis.intermediates import sown_intermediates
from lib.errors import ConfigError
from lib.train.restore import example_batch, restore_run  # noqa: F401  (example_batch: API)
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

  def sample(self, rng: jax.Array, n: int, labels=None, truncation: float | None = None):
    """n samples of a generative task; `truncation` (GAN tasks) overrides gan.truncation
    (BigGAN's truncated z, 0 = off) for this call only, e.g. for a truncation sweep."""
    config = self.config
    if truncation is not None:
      if "gan" not in config or "truncation" not in config.gan:
        raise ConfigError(f"truncation={truncation} needs a GAN run (config.gan.truncation); "
                          f"the task {config.task} has none: call sample without it")
      config = copy.deepcopy(config)
      with config.unlocked():
        config.gan.truncation = float(truncation)
    return self.task.sample(config, self.state, rng, n, labels)

  def curves(self) -> dict[str, list]:
    """The metrics as columns {name: [value per logged row]} with 'step' first; a metric
    absent from a row (an evaluator's cadence) is NaN there. metrics_frame() is the same as a
    pandas DataFrame."""
    names = ["step"] + sorted({k for row in self.metrics for k in row} - {"step"})
    nan = float("nan")
    return {k: [row.get(k, nan) for row in self.metrics] for k in names}

  def metrics_frame(self):
    """The metrics as a pandas DataFrame indexed by step, one column per metric (NaN where a
    row lacks it), e.g. `run.metrics_frame()["loss"].plot(logy=True)`."""
    import pandas as pd  # notebooks only
    return pd.DataFrame(self.curves()).set_index("step")

  def final_metrics(self) -> dict:
    """The final evaluation (results.json) when the run wrote one, else the last metrics row;
    the step is left out."""
    path = os.path.join(self.workdir, "results.json")
    if os.path.exists(path):
      with open(path) as f:
        final = json.load(f)
    else:
      final = dict(self.metrics[-1]) if self.metrics else {}
    final.pop("step", None)
    return final

  def compare(self, other: "Run") -> dict:
    """How this run differs from `other`: {'config': {dotted key: (mine, theirs)} for every key
    whose value differs (MISSING where a run lacks the key), 'metrics': {name: (mine, theirs,
    mine - theirs)} over the numeric final metrics both runs have (final_metrics)}."""
    mine, theirs = _flatten(self.config.to_dict()), _flatten(other.config.to_dict())
    pairs = {k: (mine.get(k, MISSING), theirs.get(k, MISSING)) for k in set(mine) | set(theirs)}
    config = {k: pair for k, pair in sorted(pairs.items()) if pair[0] != pair[1]}
    a, b = self.final_metrics(), other.final_metrics()
    metrics = {k: (a[k], b[k], a[k] - b[k]) for k in sorted(set(a) & set(b))
               if _is_number(a[k]) and _is_number(b[k])}
    return {"config": config, "metrics": metrics}

  def show_params(self) -> None:
    """The analysed params (EMA when kept) as an expandable treescope tree in a notebook:
    module paths, shapes, dtypes and value summaries."""
    import treescope  # notebooks only
    treescope.display(jax.tree.map(np.asarray, jax.device_get(self.params)))

  def show_config(self) -> None:
    """The run's config as an expandable treescope tree in a notebook."""
    import treescope  # notebooks only
    treescope.display(self.config.to_dict())

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


MISSING = "<missing>"  # compare(): the key is absent from that run's config


def _flatten(tree: dict, prefix: str = "") -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}; lists become tuples so that values compare."""
  out = {}
  for k, v in tree.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict) and v:
      out.update(_flatten(v, key + "."))
    else:
      out[key] = tuple(v) if isinstance(v, list) else v
  return out


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_run(workdir: str, step: int | None = None, device=None) -> Run:
  """The run in `workdir` at `step` (default: the newest checkpoint that verifies)."""
  config, task, state, step = restore_run(workdir, step, device)
  return Run(workdir, config, task, state, step, read_metrics(workdir))
