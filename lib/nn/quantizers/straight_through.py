"""Straight-through estimators (Bengio et al. 2013; VQ-VAE Sec. 3.1): the forward value of a
discrete map, the gradient of the identity."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def straight_through(z, q):
  """Forward q, backward identity on z: z + sg(q - z)."""
  return z + jax.lax.stop_gradient(q - z)


def round_ste(z):
  """round(z) forward, identity backward (FSQ's round_ste)."""
  return straight_through(z, jnp.round(z))
