"""VAE (Kingma & Welling 2014, "Auto-Encoding Variational Bayes") and the IWAE bound (Burda et
al. 2016, "Importance Weighted Autoencoders"), on binarized images with a Bernoulli decoder.

The network is the one-stochastic-layer model of the official IWAE code (yburda/iwae,
`iwae.py`: GaussianSampler / BernoulliSampler): encoder D -> 200 tanh -> 200 tanh -> (mean, sigma
= exp(linear)) of a diagonal Gaussian q(z|x) over 50 latents; decoder 50 -> 200 tanh -> 200
tanh -> D Bernoulli logits; prior p(z) = N(0, I).

Bounds, per example in nats (x binary, D pixels):
- ELBO (Kingma & Welling Eq. 10, the SGVB estimator B with the closed-form KL of App. B):
  L = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)),  -KL = 1/2 sum(1 + log sigma^2 - mu^2 - sigma^2)
- IWAE-k (Burda et al. Eq. 8): L_k = log (1/k) sum_i w_i = logsumexp_i(log w_i) - log k,
  log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q(z|x) (reparameterised);
  L_1 is the ELBO (its Monte Carlo form, estimator A), and E[L_k] rises with k towards log p(x).
The Bernoulli likelihood needs binary x: on gray values it is not a normalised density, so its
bound would not be a log-likelihood and bits per dimension would mean nothing. The task
binarizes (lib/tasks/vae.py: dynamic binarization as the official IWAE datasets.py, or a
fixed threshold).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))


def gaussian_kl_to_standard(mean, log_sigma):
  """KL(N(mean, sigma^2) || N(0, I)) summed over the last axis (Kingma & Welling App. B)."""
  return 0.5 * jnp.sum(mean ** 2 + jnp.exp(2.0 * log_sigma) - 1.0 - 2.0 * log_sigma, axis=-1)


def bernoulli_log_likelihood(x, logits):
  """sum_d x log p + (1 - x) log(1 - p), p = sigmoid(logits), over the last axis."""
  return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)


def gaussian_log_density(z, mean, log_sigma):
  """log N(z; mean, diag(sigma^2)) summed over the last axis."""
  return jnp.sum(-0.5 * (LOG_2PI + 2.0 * log_sigma + ((z - mean) * jnp.exp(-log_sigma)) ** 2),
                 axis=-1)


class VAE(nn.Module):
  """q(z|x) and p(x|z) as MLPs; images [B, H, W, C] (binary) are flattened to D = num_pixels."""
  num_pixels: int            # D (set by lib/tasks/vae.py from the data config)
  latent_dim: int = 50
  hidden: Sequence[int] = (200, 200)

  def setup(self):
    self.enc = [nn.Dense(w) for w in self.hidden]
    self.enc_mean = nn.Dense(self.latent_dim)
    self.enc_log_sigma = nn.Dense(self.latent_dim)    # sigma = exp(linear), as the official
    self.dec = [nn.Dense(w) for w in self.hidden]
    self.dec_logits = nn.Dense(self.num_pixels)

  def encode(self, x):
    """x [B, H, W, C] -> (mean, log sigma) [B, latent_dim] of q(z|x)."""
    h = x.reshape(x.shape[0], -1).astype(jnp.float32)
    for layer in self.enc:
      h = jnp.tanh(layer(h))
    return self.enc_mean(h), self.enc_log_sigma(h)

  def decode(self, z):
    """z [..., latent_dim] -> Bernoulli logits [..., D]."""
    h = z
    for layer in self.dec:
      h = jnp.tanh(layer(h))
    return self.dec_logits(h)

  def elbo(self, x, rng):
    """(ELBO, E_q log p(x|z) (one sample), KL) per example [B]: Kingma & Welling Eq. 10."""
    mean, log_sigma = self.encode(x)
    z = mean + jnp.exp(log_sigma) * jax.random.normal(rng, mean.shape)   # z = mu + sigma eps
    recon = bernoulli_log_likelihood(x.reshape(x.shape[0], -1), self.decode(z))
    kl = gaussian_kl_to_standard(mean, log_sigma)
    return recon - kl, recon, kl

  def log_weights(self, x, rng, k: int):
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k samples z_i ~ q: [B, k]."""
    mean, log_sigma = self.encode(x)
    eps = jax.random.normal(rng, (x.shape[0], k, self.latent_dim))
    z = mean[:, None] + jnp.exp(log_sigma)[:, None] * eps
    flat = x.reshape(x.shape[0], 1, -1)
    log_px_z = bernoulli_log_likelihood(flat, self.decode(z))
    log_pz = gaussian_log_density(z, 0.0, jnp.zeros_like(z))
    log_qz_x = gaussian_log_density(z, mean[:, None], log_sigma[:, None])
    return log_px_z + log_pz - log_qz_x

  def iwae_bound(self, x, rng, k: int):
    """L_k = logsumexp_i log w_i - log k per example [B] (Burda et al. Eq. 8)."""
    return jax.nn.logsumexp(self.log_weights(x, rng, k), axis=-1) - np.log(k)

  def __call__(self, x, rng):
    return self.elbo(x, rng)[0]
