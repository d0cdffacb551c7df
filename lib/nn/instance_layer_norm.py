"""LIN and AdaLIN (Kim et al. 2020, "U-GAT-IT", Eq. 1 and Sec. 2.1.1): a learned per-channel
mix rho of instance-norm and layer-norm statistics.

  a_I = (a - mu_I) / sqrt(sigma_I^2 + eps),  a_L = (a - mu_L) / sqrt(sigma_L^2 + eps)
  AdaLIN(a, gamma, beta) = gamma * (rho a_I + (1 - rho) a_L) + beta          # Eq. 1
with mu_I, sigma_I over (H, W) per channel and mu_L, sigma_L over (H, W, C); rho is clipped
to [0, 1] after every update (`clip_rho`, the official RhoClipper). AdaLIN's gamma and beta
come from the generator (an MLP on the attention features) and rho starts at 0.9; LIN (the
decoder's upsampling norm) learns its own gamma (1), beta (0) and rho (starts at 0).
Statistics are the biased (population) moments, as the official TensorFlow code
(tf.nn.moments) and the paper; the PyTorch port takes a variance of a variance (a bug).
Layout NHWC.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


EPS = 1e-5


def instance_layer_norm(x, rho, eps: float = EPS):
  """rho * instance_norm(x) + (1 - rho) * layer_norm(x), no affine; x [B, H, W, C], rho [C]."""
  x32 = x.astype(jnp.float32)
  mu_i = jnp.mean(x32, axis=(1, 2), keepdims=True)
  var_i = jnp.var(x32, axis=(1, 2), keepdims=True)
  mu_l = jnp.mean(x32, axis=(1, 2, 3), keepdims=True)
  var_l = jnp.var(x32, axis=(1, 2, 3), keepdims=True)
  a_i = (x32 - mu_i) * jax.lax.rsqrt(var_i + eps)
  a_l = (x32 - mu_l) * jax.lax.rsqrt(var_l + eps)
  rho = jnp.asarray(rho, jnp.float32)
  return (rho * a_i + (1.0 - rho) * a_l).astype(x.dtype)


class AdaLIN(nn.Module):
  """Adaptive LIN: gamma, beta [B, C] given; rho [C] learned (init 0.9)."""
  rho_init: float = 0.9
  eps: float = EPS

  @nn.compact
  def __call__(self, x, gamma, beta):
    rho = self.param("rho", nn.initializers.constant(self.rho_init), (x.shape[-1],))
    y = instance_layer_norm(x, rho, self.eps)
    return y * gamma[:, None, None, :].astype(y.dtype) + beta[:, None, None, :].astype(y.dtype)


class LIN(nn.Module):
  """LIN: rho (init 0), gamma (1), beta (0) per channel, all learned."""
  rho_init: float = 0.0
  eps: float = EPS

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    rho = self.param("rho", nn.initializers.constant(self.rho_init), (c,))
    gamma = self.param("gamma", nn.initializers.ones, (c,))
    beta = self.param("beta", nn.initializers.zeros, (c,))
    y = instance_layer_norm(x, rho, self.eps)
    return y * gamma.astype(y.dtype) + beta.astype(y.dtype)


def clip_rho(params):
  """Every param named 'rho' clipped to [0, 1] (the official RhoClipper(0, 1) after a step)."""
  def clip(path, v):
    last = path[-1]
    return jnp.clip(v, 0.0, 1.0) if getattr(last, "key", None) == "rho" else v
  return jax.tree_util.tree_map_with_path(clip, params)
