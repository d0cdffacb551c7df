"""adaLN-Zero (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers", Sec. 3.2).

A conditioning vector c [B, D_c] gives, through Linear(SiLU(c)), per-channel shift, scale and
gate vectors; LayerNorm (no affine of its own) is modulated as LN(x) (1 + scale) + shift and each
residual branch is multiplied by its gate. The linear map starts at zero, so at init every gate
is zero and the block is the identity (official DiT models.py: `modulate`, `adaLN_modulation`,
`initialize_weights`).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


def modulate(x, shift, scale):
  """x (1 + scale) + shift, with [B, D] shift and scale broadcast over the tokens of [B, T, D]."""
  return x * (1 + scale[:, None]) + shift[:, None]


class AdaLNModulation(nn.Module):
  """Linear(SiLU(c)) -> `chunks` vectors of width `features` (zero-initialised)."""
  features: int
  chunks: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, c):
    y = nn.Dense(self.chunks * self.features, kernel_init=nn.initializers.zeros,
                 bias_init=nn.initializers.zeros, dtype=self.dtype, name="linear")(nn.silu(c))
    return jnp.split(y, self.chunks, axis=-1)


def plain_layer_norm(dtype: Any, name: str):
  """LayerNorm without scale and bias (eps 1e-6), the norm adaLN modulates."""
  return nn.LayerNorm(epsilon=1e-6, use_scale=False, use_bias=False, dtype=dtype, name=name)
