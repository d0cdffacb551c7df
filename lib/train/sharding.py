"""Parameter and batch shardings: regex rules on parameter paths, plus an FSDP rule.

A rule is (regex, spec): the first regex that fully matches a leaf's path ('G/Dense_0/kernel',
optimizer states included, e.g. 'opt_state/0/mu/G/Dense_0/kernel' matched with a leading '.*')
gives its PartitionSpec as a tuple of axis names or None per dimension. Then the FSDP rule
shards the largest dimension that is still unsharded and divisible by the fsdp axis size, for
leaves with at least `fsdp_min_size` elements. Everything else is replicated.
`sharding.preset` (lib/train/sharding_presets.py) appends its rules after these and may turn
the FSDP rule off; the layer axis of params stacked by scan_layers is never taken by it.
"""
from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from lib.train import sharding_presets
from lib.train.mesh import BATCH_AXES
from lib.train.param_paths import path_str


def _spec_for(path: str, shape: tuple[int, ...], rules, mesh: Mesh,
              fsdp_min_size: int | None, excluded: tuple[int, ...] = ()) -> P:
  spec: list = [None] * len(shape)
  for rx, rule_spec in rules:
    if rx.fullmatch(path):
      rule_spec = tuple(rule_spec)
      if len(rule_spec) != len(shape):
        raise ValueError(f"sharding rule {rx.pattern!r} has {len(rule_spec)} dims but "
                         f"{path} has shape {shape}")
      for i, axis in enumerate(rule_spec):
        if axis is not None and shape[i] % mesh.shape[axis]:
          raise ValueError(f"sharding rule {rx.pattern!r}: dim {i} of {path} {shape} is not "
                           f"divisible by mesh axis {axis}={mesh.shape[axis]}")
      spec = list(rule_spec)
      break
  fsdp = mesh.shape.get("fsdp", 1)
  big = fsdp_min_size is not None and int(np.prod(shape, dtype=np.int64)) >= fsdp_min_size
  if fsdp > 1 and big and "fsdp" not in spec:
    free = [i for i in range(len(shape))
            if spec[i] is None and shape[i] % fsdp == 0 and i not in excluded]
    if free:
      i = max(free, key=lambda j: shape[j])
      spec[i] = "fsdp"
  return P(*spec)


def tree_shardings(abstract_tree: Any, mesh: Mesh, sharding_config: ml_collections.ConfigDict):
  """NamedShardings for every leaf of `abstract_tree` (arrays or ShapeDtypeStructs), by
  `sharding_config.preset` (lib/train/sharding_presets.py; "" = the rules + FSDP)."""
  rules, fsdp = sharding_presets.resolve(sharding_config, mesh)
  fsdp_min_size = sharding_config.fsdp_min_size if fsdp else None

  def one(path, leaf):
    shape = tuple(getattr(leaf, "shape", ()))
    name = path_str(path)
    return NamedSharding(mesh, _spec_for(name, shape, rules, mesh, fsdp_min_size,
                                         sharding_presets.fsdp_excluded_dims(name)))

  return jax.tree_util.tree_map_with_path(one, abstract_tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """This process's numpy batch -> global jax.Arrays sharded over the batch axes."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}


def check_batch_divisible(global_batch_size: int, mesh: Mesh) -> None:
  n = mesh.shape["data"] * mesh.shape["fsdp"]
  if global_batch_size % n:
    raise ValueError(f"data.batch_size={global_batch_size} is not divisible by the batch axes "
                     f"data x fsdp = {n}; choose a multiple of {n}.")
