"""Sharding presets: `config.sharding.preset` -> (regex rules, FSDP on/off, mesh expectations).

| preset    | params and optimizer state                                   | mesh it expects       |
|-----------|--------------------------------------------------------------|-----------------------|
| ""        | `sharding.rules`, then the FSDP rule (the default)           | any                   |
| replicate | replicated on every device                                   | any                   |
| data      | replicated; the batch over `data` only                       | fsdp = 1, model = 1   |
| fsdp      | the FSDP rule: largest divisible dim over `fsdp` (ZeRO-3)    | model = 1             |
| fsdp_tp   | transformer heads and MLP hidden over `model` (Megatron),    | any (model divides    |
|           | then the FSDP rule on what is left (embed dims, the rest)    | heads and mlp_dim)    |

The batch is always split over data x fsdp (lib/train/mesh.py). `sharding.rules` come first
in every preset: they override the preset leaf by leaf (e.g. MQA key/value kernels whose one
head cannot split over `model`: `((r".*attn/(key|value)/kernel", (None, None, None)),)`).
The FSDP rule skips leaves below `sharding.fsdp_min_size` elements.

fsdp_tp names the dimensions of the transformer params with logical axes, as Flax's
logical partitioning and MaxText do, from the param paths of lib/attention/multihead.py
(query/key/value kernels [embed, heads, head_dim], out kernel [heads, head_dim, embed]) and of
the MLP blocks (fc1 [embed, mlp], fc2 [mlp, embed]); `LOGICAL_RULES` maps logical axes to
mesh axes. Embed dims are left to the FSDP rule so that small leaves stay replicated.

Params stacked by `scan_layers` live under a module named `blocks` and have a leading
`layers` axis; in every preset it stays unsharded (the FSDP rule never takes it: a scan
slicing a sharded layer axis would gather the whole stack at each step).
"""
from __future__ import annotations

import re

import ml_collections
from jax.sharding import Mesh

PRESETS = ("", "replicate", "data", "fsdp", "fsdp_tp")

# Param path (regex, fullmatch; optimizer states match through the leading '.*') -> logical
# axis per dimension.
TRANSFORMER_LOGICAL_AXES = (
    (r".*attn/(query|key|value)/kernel", ("embed", "heads", "head_dim")),
    (r".*attn/(query|key|value)/bias", ("heads", "head_dim")),
    (r".*attn/out/kernel", ("heads", "head_dim", "embed")),
    (r".*attn/out/bias", ("embed",)),
    (r".*mlp/fc1/kernel", ("embed", "mlp")),
    (r".*mlp/fc1/bias", ("mlp",)),
    (r".*mlp/fc2/kernel", ("mlp", "embed")),
    (r".*mlp/fc2/bias", ("embed",)),
)
SCAN_PREFIX = r"(.*/)?blocks/"  # research/vit with scan_layers: 'blocks/attn/query/kernel'

# Logical axis -> mesh axis (None: left to the FSDP rule, or replicated).
LOGICAL_RULES = {
    "fsdp_tp": {"heads": "model", "mlp": "model"},
}

# Mesh axis sizes a preset requires, and the fix named when they do not hold.
MESH_EXPECTATIONS = {
    "data": {"fsdp": 1, "model": 1},
    "fsdp": {"model": 1},
}
SUGGESTED_MESH = {
    "replicate": "any mesh",
    "data": "--config.mesh.data=-1 --config.mesh.fsdp=1 --config.mesh.model=1",
    "fsdp": "--config.mesh.data=1 --config.mesh.fsdp=-1 --config.mesh.model=1",
    "fsdp_tp": "--config.mesh.data=1 --config.mesh.fsdp=-1 --config.mesh.model=<divides heads>",
}


_SCANNED = re.compile(SCAN_PREFIX + ".*")


def fsdp_excluded_dims(path: str) -> tuple[int, ...]:
  """Dims the FSDP rule must not take: the layer axis of params stacked by scan_layers."""
  return (0,) if _SCANNED.fullmatch(path) else ()


def logical_to_mesh(axes: tuple, rules: dict) -> tuple:
  return tuple(rules.get(a) for a in axes)


def preset_rules(preset: str) -> list[tuple[str, tuple]]:
  """The preset's own (regex, mesh-axis spec) rules, scanned (stacked) forms first."""
  if preset not in LOGICAL_RULES:
    return []
  logical = LOGICAL_RULES[preset]
  stacked = [(SCAN_PREFIX + rx[len(".*"):], (None,) + logical_to_mesh(axes, logical))
             for rx, axes in TRANSFORMER_LOGICAL_AXES]
  plain = [(rx, logical_to_mesh(axes, logical)) for rx, axes in TRANSFORMER_LOGICAL_AXES]
  return stacked + plain


def check_preset(preset: str) -> None:
  if preset not in PRESETS:
    raise ValueError(f"config.sharding.preset={preset!r} is not a preset; choose one of "
                     f"{[p for p in PRESETS if p]} or '' (sharding.rules + FSDP)")


def check_mesh(preset: str, mesh_shape: dict[str, int]) -> None:
  """Fails before any compile when the mesh does not suit the preset."""
  wrong = {a: mesh_shape.get(a, 1) for a, size in MESH_EXPECTATIONS.get(preset, {}).items()
           if mesh_shape.get(a, 1) != size}
  if wrong:
    need = ", ".join(f"{a}={s}" for a, s in MESH_EXPECTATIONS[preset].items())
    raise ValueError(f"config.sharding.preset={preset!r} needs mesh {need} but the mesh has "
                     f"{wrong}; use {SUGGESTED_MESH[preset]}")


def resolve(sharding_config: ml_collections.ConfigDict, mesh: Mesh):
  """(compiled rules, whether the FSDP rule applies) for `lib.train.sharding.tree_shardings`."""
  preset = sharding_config.get("preset", "")
  check_preset(preset)
  check_mesh(preset, dict(mesh.shape))
  rules = [(rx, tuple(spec)) for rx, spec in sharding_config.rules] + preset_rules(preset)
  fsdp = preset not in ("replicate", "data")
  return [(re.compile(rx), spec) for rx, spec in rules], fsdp
