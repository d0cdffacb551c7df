"""Self-attention block of SAGAN (Zhang et al. 2019, "Self-Attention Generative Adversarial
Networks", Sec. 3) on NHWC feature maps.

theta, phi: 1x1 convs to C/8; g: 1x1 conv to C/2; phi and g are max-pooled 2x2 so there are
N/4 keys (official code); beta = softmax over keys of theta phi^T with no 1/sqrt(d) scale
(Eq. 1); o = v(beta g), a 1x1 conv back to C (Eq. 2); y = x + gamma * o with gamma = 0 at
init (Eq. 3). Every conv is spectrally normalised when `spectral_norm` (Sec. 4); its u and
sigma live in 'batch_stats' and advance by one power iteration per call with
`update_stats=True` (apply with mutable=['batch_stats']).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.pooling import pool


def sagan_attention(theta, phi, g):
  """theta [B, N, C/8], phi [B, M, C/8], g [B, M, C/2] -> (o [B, N, C/2], beta [B, N, M]).

  beta_ij = softmax_j(theta_i . phi_j), unscaled (Eq. 1); o_i = sum_j beta_ij g_j (Eq. 2).
  """
  s = jnp.einsum("bnc,bmc->bnm", theta, phi).astype(jnp.float32)
  beta = jax.nn.softmax(s, axis=-1)
  return jnp.einsum("bnm,bmc->bnc", beta.astype(g.dtype), g), beta


class SelfAttention2D(nn.Module):
  """SAGAN self-attention block, [B, H, W, C] -> [B, H, W, C]; C divisible by 8, H, W even.

  Convs have no bias (as in the official and BigGAN code). Attention weights are sown as
  [B, 1, H*W, H*W/4] (one head).
  """
  spectral_norm: bool = True
  pool: bool = True
  dtype: Any = jnp.float32

  def _conv(self, features, name, x, update_stats):
    conv = nn.Conv(features, (1, 1), use_bias=False, dtype=self.dtype, name=name)
    if self.spectral_norm:
      return nn.SpectralNorm(conv, name=f"{name}_sn")(x, update_stats=update_stats)
    return conv(x)

  @nn.compact
  def __call__(self, x, update_stats: bool = False):
    b, h, w, c = x.shape
    theta = self._conv(c // 8, "theta", x, update_stats)
    phi = self._conv(c // 8, "phi", x, update_stats)
    g = self._conv(c // 2, "g", x, update_stats)
    if self.pool:
      phi = pool(phi, 2, "max")
      g = pool(g, 2, "max")
    m = phi.shape[1] * phi.shape[2]
    o, beta = sagan_attention(theta.reshape(b, h * w, -1), phi.reshape(b, m, -1),
                              g.reshape(b, m, -1))
    self.sow("intermediates", "attention_weights", beta[:, None])
    o = self._conv(c, "o", o.reshape(b, h, w, c // 2), update_stats)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return x + gamma.astype(o.dtype) * o                                      # Eq. 3
