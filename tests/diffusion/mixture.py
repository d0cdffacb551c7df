"""A Gaussian mixture with exact denoisers (no training): the reference the sampler tests use.

p_0 = sum_k w_k N(mu_k, s^2 I). Under EDM's x = y + sigma n, E[y | x] = sum_k r_k(x) (mu_k +
s^2 / (s^2 + sigma^2) (x - mu_k)) with responsibilities r_k(x) proportional to
w_k N(x; mu_k, (s^2 + sigma^2) I). Under DDPM's x_t = sqrt(a) y + sqrt(1 - a) eps,
E[eps | x_t] = sum_k r_k(x_t) sqrt(1 - a) (x_t - sqrt(a) mu_k) / (a s^2 + 1 - a), r_k from
N(x_t; sqrt(a) mu_k, (a s^2 + 1 - a) I).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class Mixture:
  def __init__(self, means, std: float, weights=None):
    self.means = jnp.asarray(means, jnp.float32)                 # [K, D]
    self.std = float(std)
    k = self.means.shape[0]
    self.weights = jnp.asarray(np.full(k, 1 / k) if weights is None else weights, jnp.float32)

  def _resp(self, x, centers, var):
    """r_k [B, K] for x [B, D] against N(centers_k, var I), var [B]."""
    d2 = jnp.sum(jnp.square(x[:, None, :] - centers[None]), -1)
    logits = jnp.log(self.weights)[None] - 0.5 * d2 / var[:, None]
    return jax.nn.softmax(logits, axis=-1)

  def denoiser(self, x, sigma):
    """E[y | y + sigma n = x] for x [B, D], sigma [B]."""
    var = self.std ** 2 + jnp.square(sigma)
    r = self._resp(x, self.means, var)
    shrink = (self.std ** 2 / var)[:, None, None]
    post = self.means[None] + shrink * (x[:, None, :] - self.means[None])
    return jnp.sum(r[..., None] * post, axis=1)

  def eps(self, x, alpha_bar):
    """E[eps | x_t = x] for x [B, D], alpha_bar [B] (DDPM)."""
    a = alpha_bar
    var = a * self.std ** 2 + 1 - a
    centers = jnp.sqrt(a)[:, None, None] * self.means[None]
    d2 = jnp.sum(jnp.square(x[:, None, :] - centers), -1)
    r = jax.nn.softmax(jnp.log(self.weights)[None] - 0.5 * d2 / var[:, None], axis=-1)
    per = (jnp.sqrt(1 - a) / var)[:, None, None] * (x[:, None, :] - centers)
    return jnp.sum(r[..., None] * per, axis=1)

  def on_modes(self, x, radius: float) -> float:
    """Fraction of samples within `radius` of some mode."""
    d = jnp.sqrt(jnp.min(jnp.sum(jnp.square(x[:, None, :] - self.means[None]), -1), -1))
    return float(jnp.mean(d < radius))

  def sample(self, rng, n: int):
    kk, kn = jax.random.split(rng)
    k = jax.random.choice(kk, self.means.shape[0], (n,), p=self.weights)
    return self.means[k] + self.std * jax.random.normal(kn, (n, self.means.shape[1]))
