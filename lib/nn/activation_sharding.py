"""Activation sharding constraints that are a no-op without a mesh.

`constrain(x, spec)` applies `jax.lax.with_sharding_constraint(x, PartitionSpec(*spec))` when
an abstract mesh is set (`jax.set_mesh`, as the train loop does). Axis names the mesh lacks,
and axes that do not divide their dimension (a batch of 1 at init, an odd evaluation batch),
are dropped, so a model stays runnable on one device, in a notebook, or on any mesh. The axis
names are the mesh's (lib/train/mesh.py): the batch is split over data x fsdp, tensor
parallelism is `model`.
"""
from __future__ import annotations

import math

import jax
from jax.sharding import PartitionSpec as P

BATCH = ("data", "fsdp")
MODEL = "model"


def resolve_spec(shape, spec, mesh_shape: dict[str, int]) -> tuple | None:
  """The spec restricted to axes the mesh has and that divide their dimension; None when
  nothing is left to constrain."""
  out, any_axis = [], False
  for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    names = (axes,) if isinstance(axes, str) else tuple(axes or ())
    names = tuple(a for a in names if a in mesh_shape)
    if names and dim % math.prod(mesh_shape[a] for a in names) == 0:
      out.append(names[0] if len(names) == 1 else names)
      any_axis = True
    else:
      out.append(None)
  return tuple(out) if any_axis else None


def constrain(x, spec):
  """x with its sharding constrained to `spec` (axis name, tuple of names or None per dim)."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return x
  resolved = resolve_spec(x.shape, spec, dict(mesh.shape))
  if resolved is None:
    return x
  return jax.lax.with_sharding_constraint(x, P(*resolved))
