"""Conditional batch normalisation for class-conditional generators.

- `ClassConditionalBatchNorm` (de Vries et al. 2017; the generator of Miyato & Koyama 2018,
  "cGANs with Projection Discriminator", and of SAGAN): BN without its own affine, then a
  per-class gain and bias looked up from embeddings: y = gamma_c * x_hat + beta_c, with
  gamma initialised to 1 and beta to 0.
- `LinearConditionalBatchNorm` (Brock et al. 2019, "BigGAN", Sec. 3 and App. B): gains and
  biases are linear projections of a conditioning vector (the shared class embedding
  concatenated with this block's chunk of z): y = (1 + W_g c) * x_hat + W_b c.

Statistics: batch statistics when `train`, running averages otherwise (momentum 0.9, the
PyTorch default 0.1, eps 1e-5), kept in 'batch_stats'.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.spectral_norm import spectral_norm as sn_wrap


def _normalize(x, train: bool, momentum: float, epsilon: float, dtype):
  return nn.BatchNorm(use_running_average=not train, use_bias=False, use_scale=False,
                      momentum=momentum, epsilon=epsilon, dtype=dtype, name="bn")(x)


def _broadcast(v, x):
  return v.reshape(v.shape[:1] + (1,) * (x.ndim - 2) + v.shape[-1:]).astype(x.dtype)


class ClassConditionalBatchNorm(nn.Module):
  """x [B, ..., C], labels [B] int -> gamma[labels] * BN(x) + beta[labels]."""
  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels, train: bool = False):
    c = x.shape[-1]
    x_hat = _normalize(x, train, self.momentum, self.epsilon, self.dtype)
    gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones, name="gamma")(labels)
    beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(labels)
    return _broadcast(gamma, x) * x_hat + _broadcast(beta, x)


class LinearConditionalBatchNorm(nn.Module):
  """x [B, ..., C], cond [B, D] -> (1 + W_g cond) * BN(x) + W_b cond (BigGAN).

  The two projections have no bias and are spectrally normalised with the generator's SN flag
  (BigGAN-PyTorch's `ccbn` with `SNLinear`)."""
  momentum: float = 0.9
  epsilon: float = 1e-5
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond, train: bool = False):
    c = x.shape[-1]
    x_hat = _normalize(x, train, self.momentum, self.epsilon, self.dtype)
    dense = lambda name: sn_wrap(nn.Dense(c, use_bias=False, dtype=self.dtype, name=name),
                                 self.spectral_norm, update_stats=train)
    gain = 1.0 + dense("gain")(cond)
    bias = dense("bias")(cond)
    return _broadcast(gain, x) * x_hat + _broadcast(bias, x)
