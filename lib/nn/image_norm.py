"""Per-feature-map normalization layers chosen by name, for the translation networks.

  'instance'  InstanceNorm without affine (CycleGAN's and CUT's default, torch's
              InstanceNorm2d(affine=False)); pix2pix's BatchNorm at batch size 1 is the same
  'batch'     BatchNorm with running statistics in 'batch_stats' (used when not `train`)
  'none'      identity
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

NORMS = ("instance", "batch", "none")


def make_norm(kind: str, train: bool, name: str | None = None):
  if kind == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, name=name)
  if kind == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"norm={kind!r}: use one of {NORMS}")


def reflect_pad(x, p: int):
  """Reflection padding of p pixels on H and W (NHWC)."""
  return x if p == 0 else jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
