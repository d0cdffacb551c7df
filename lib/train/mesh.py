"""The device mesh from `config.mesh` (axes data, fsdp, model; -1 fills the rest)."""
from __future__ import annotations

import math

import jax
import ml_collections
from jax.sharding import AxisType, Mesh

AXES = ("data", "fsdp", "model")
BATCH_AXES = ("data", "fsdp")  # the batch dimension is split over both


def mesh_shape(mesh_config: ml_collections.ConfigDict, num_devices: int) -> dict[str, int]:
  """Resolves -1 and checks that the product equals the device count, before any compile."""
  sizes = {a: int(mesh_config.get(a, 1)) for a in AXES}
  extra = set(mesh_config.keys()) - set(AXES)
  if extra:
    raise ValueError(f"config.mesh has unknown axes {sorted(extra)}; the axes are {AXES}")
  fill = [a for a, s in sizes.items() if s == -1]
  if len(fill) > 1:
    raise ValueError(f"config.mesh: only one axis may be -1, got {fill}")
  if any(s == 0 or s < -1 for s in sizes.values()):
    raise ValueError(f"config.mesh={sizes}: sizes must be positive or -1")
  known = math.prod(s for s in sizes.values() if s != -1)
  if fill:
    if num_devices % known:
      raise ValueError(
          f"config.mesh={sizes} does not fit {num_devices} devices: {known} does not divide "
          f"{num_devices}. Choose sizes whose product divides the device count.")
    sizes[fill[0]] = num_devices // known
  if math.prod(sizes.values()) != num_devices:
    raise ValueError(
        f"config.mesh={sizes} needs {math.prod(sizes.values())} devices but {num_devices} are "
        f"present. Set one axis to -1 (e.g. --config.mesh.data=-1) to fill the devices.")
  return sizes


def make_mesh(mesh_config: ml_collections.ConfigDict, devices=None) -> Mesh:
  devices = devices if devices is not None else jax.devices()
  sizes = mesh_shape(mesh_config, len(devices))
  return jax.make_mesh(tuple(sizes[a] for a in AXES), AXES,
                       axis_types=(AxisType.Auto,) * len(AXES), devices=devices)
