"""Mask schedules gamma(r): the fraction of tokens masked at progress r in [0, 1] (MaskGIT,
Chang et al. 2022, Sec. 3.3; the official maskgit/libml/mask_schedule.py and MaskBit's
modeling/modules/masking.py).

Every schedule is continuous and decreasing with gamma(0) = 1 and gamma(1) = 0. Training masks
a ratio gamma(r) with r ~ U(0, 1); decoding step t of T re-masks floor(N gamma((t + 1) / T))
tokens. As the official code, the decoding ratio is clipped to [1e-6, 1] (`clipped`).

MAGE (Li et al. 2023, Sec. 3.1) draws the training ratio from a truncated normal instead:
mean 0.55, std 0.25, truncated to [0.5, 1.0] (`truncated_normal_ratio`).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from lib.errors import ConfigError

SCHEDULES = ("cosine", "linear", "arccos", "sqrt", "square")


def gamma(r, schedule: str = "cosine"):
  """The mask ratio at progress r (float array), 1 at r = 0 and 0 at r = 1."""
  r = jnp.asarray(r, jnp.float32)
  if schedule == "cosine":
    return jnp.cos(0.5 * math.pi * r)                 # gamma(r) = cos(pi r / 2)
  if schedule == "linear":
    return 1.0 - r                                    # gamma(r) = 1 - r
  if schedule == "arccos":
    return jnp.arccos(jnp.clip(r, -1.0, 1.0)) / (0.5 * math.pi)   # gamma(r) = arccos(r) / (pi/2)
  if schedule == "sqrt":
    return 1.0 - jnp.sqrt(r)                          # gamma(r) = 1 - sqrt(r)
  if schedule == "square":
    return 1.0 - r ** 2                               # gamma(r) = 1 - r^2
  raise ConfigError(f"config.masked.schedule={schedule!r} is not a mask schedule; use one of "
                    f"{SCHEDULES}.")


def clipped(r, schedule: str = "cosine"):
  """gamma(r) clipped to [1e-6, 1], as the official decoder uses it."""
  return jnp.clip(gamma(r, schedule), 1e-6, 1.0)


def truncated_normal_ratio(rng, shape, mean: float = 0.55, std: float = 0.25,
                           low: float = 0.5, high: float = 1.0):
  """MAGE's training mask ratio: N(mean, std^2) truncated to [low, high]."""
  a, b = (low - mean) / std, (high - mean) / std
  return mean + std * jax.random.truncated_normal(rng, a, b, shape, jnp.float32)
