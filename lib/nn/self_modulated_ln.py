"""Self-modulated LayerNorm (Lee et al. 2022, "ViTGAN", Sec. 4.2, Eq. 7).

SLN(h_l, w) = gamma_l(w) * (h_l - mu) / sigma + beta_l(w): the LayerNorm's gain and bias
are computed from the latent w by linear layers instead of being free parameters. gamma_l's
bias starts at 1 and beta_l's at 0, so at init SLN is a LayerNorm whose affine only moves
with w.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class SelfModulatedLayerNorm(nn.Module):
  """h [B, T, C], w [B, D] -> [B, T, C]."""
  epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, w):
    c = h.shape[-1]
    h_hat = nn.LayerNorm(epsilon=self.epsilon, use_bias=False, use_scale=False,
                         dtype=self.dtype, name="ln")(h)
    gamma = nn.Dense(c, bias_init=nn.initializers.ones, dtype=self.dtype, name="gamma")(w)
    beta = nn.Dense(c, dtype=self.dtype, name="beta")(w)
    return gamma[:, None, :] * h_hat + beta[:, None, :]                     # Eq. 7
