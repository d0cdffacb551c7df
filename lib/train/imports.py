"""Builds objects named by import path in a config (`config.task`, `config.model.name`)."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import ml_collections


def import_symbol(path: str) -> Any:
  """'research.vit.model.ViT' -> the class; 'lib.tasks.classify' -> the module."""
  try:
    return importlib.import_module(path)
  except ModuleNotFoundError:
    pass
  module_name, _, attr = path.rpartition(".")
  if not module_name:
    raise ValueError(f"cannot import {path!r}: give a dotted import path")
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    raise ValueError(f"cannot import {path!r}: module {module_name!r} not found ({e})") from e
  if not hasattr(module, attr):
    raise ValueError(f"cannot import {path!r}: {module_name} has no attribute {attr!r}")
  return getattr(module, attr)


def build_model(model_config: ml_collections.ConfigDict, compute_dtype: str | None = None):
  """Instantiates the Flax module `model_config.name` with the other keys as kwargs.

  When the module has a `dtype` field and the config does not set it, `compute_dtype` is used
  (mixed precision: params stay float32, activations run in the compute dtype).
  """
  kwargs = {k: v for k, v in model_config.to_dict().items() if k != "name"}
  cls = import_symbol(model_config.name)
  fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
  unknown = set(kwargs) - fields if fields else set()
  if unknown:
    raise ValueError(f"model {model_config.name} has no field(s) {sorted(unknown)}; "
                     f"its fields are {sorted(f for f in fields if f not in ('parent', 'name'))}")
  if compute_dtype and "dtype" in fields and "dtype" not in kwargs:
    import jax.numpy as jnp
    kwargs["dtype"] = jnp.dtype(compute_dtype)
  for k, v in kwargs.items():
    if isinstance(v, list):
      kwargs[k] = tuple(v)
  return cls(**kwargs)
