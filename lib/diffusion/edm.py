"""EDM (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative
Models"): preconditioning, the training loss, the sigma schedule and the Heun / Euler
samplers with optional stochastic churn.

Follows the official code (NVlabs/edm training/networks.py `EDMPrecond`, training/loss.py
`EDMLoss`, generate.py `edm_sampler`):
- D_theta(x; sigma) = c_skip(sigma) x + c_out(sigma) F_theta(c_in(sigma) x; c_noise(sigma))
  with c_skip = sigma_data^2 / (sigma^2 + sigma_data^2), c_out = sigma sigma_data /
  sqrt(sigma^2 + sigma_data^2), c_in = 1 / sqrt(sigma^2 + sigma_data^2),
  c_noise = ln(sigma) / 4, sigma_data = 0.5 (Table 1);
- training: ln sigma ~ N(P_mean = -1.2, P_std^2 = 1.2^2), loss
  lambda(sigma) ||D(y + n; sigma) - y||^2 with lambda = (sigma^2 + sigma_data^2) /
  (sigma sigma_data)^2 and n ~ N(0, sigma^2 I). The official loop sums the loss over pixels;
  this takes the mean over pixels (a constant factor);
- time steps sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
  i < N, then sigma_N = 0; sigma_min 0.002, sigma_max 80, rho 7 (Eq. 5); rho = 1 is uniform
  spacing in sigma;
- Alg. 2: churn gamma_i = min(S_churn / N, sqrt(2) - 1) on S_min <= sigma_i <= S_max,
  sigma_hat = (1 + gamma) sigma_i, x_hat = x + sqrt(sigma_hat^2 - sigma_i^2) S_noise z; an Euler
  step along d = (x_hat - D(x_hat; sigma_hat)) / sigma_hat, then Heun's correction except at the
  last step (2N - 1 network evaluations). 'euler' skips the correction (N evaluations).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError

SOLVERS = ("heun", "euler")


def preconditioning(sigma, sigma_data: float = 0.5):
  """(c_skip, c_out, c_in, c_noise) at sigma (EDM Table 1, 'Ours')."""
  s2, d2 = jnp.square(sigma), sigma_data ** 2
  c_skip = d2 / (s2 + d2)
  c_out = sigma * sigma_data / jnp.sqrt(s2 + d2)
  c_in = 1.0 / jnp.sqrt(s2 + d2)
  c_noise = jnp.log(sigma) / 4.0
  return c_skip, c_out, c_in, c_noise


def denoise(net, x, sigma, labels=None, sigma_data: float = 0.5):
  """D_theta(x; sigma) = c_skip x + c_out F(c_in x; c_noise) for sigma [B]; `net(x, noise_level
  [B], labels)` is the backbone F (its first C output channels are used)."""
  c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
  b = lambda v: v.reshape(v.shape + (1,) * (x.ndim - 1))
  f = net(b(c_in) * x, c_noise, labels)[..., :x.shape[-1]]
  return b(c_skip) * x + b(c_out) * f


def loss_weight(sigma, sigma_data: float = 0.5):
  """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2."""
  return (jnp.square(sigma) + sigma_data ** 2) / jnp.square(sigma * sigma_data)


def training_loss(net, y, labels, rng, *, p_mean: float = -1.2, p_std: float = 1.2,
                  sigma_data: float = 0.5):
  """Per-example EDM loss [B] and the sigmas drawn (ln sigma ~ N(P_mean, P_std^2))."""
  k_sigma, k_n = jax.random.split(rng)
  sigma = jnp.exp(jax.random.normal(k_sigma, (y.shape[0],)) * p_std + p_mean)
  n = jax.random.normal(k_n, y.shape, y.dtype) * sigma.reshape((-1,) + (1,) * (y.ndim - 1))
  d = denoise(net, y + n, sigma, labels, sigma_data)
  w = loss_weight(sigma, sigma_data)
  per_example = w * jnp.mean(jnp.square(d - y), axis=tuple(range(1, y.ndim)))
  return per_example, sigma


def sigma_steps(num_steps: int = 18, sigma_min: float = 0.002, sigma_max: float = 80.0,
                rho: float = 7.0) -> np.ndarray:
  """[N + 1] sigmas, sigma_max down to sigma_min on the rho schedule, then 0 (EDM Eq. 5)."""
  i = np.arange(num_steps, dtype=np.float64)
  t = (sigma_max ** (1 / rho) + i / (num_steps - 1)
       * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
  return np.concatenate([t, [0.0]])


def sample(denoiser, latents, rng, *, num_steps: int = 18, sigma_min: float = 0.002,
           sigma_max: float = 80.0, rho: float = 7.0, solver: str = "heun",
           s_churn: float = 0.0, s_min: float = 0.0, s_max: float = float("inf"),
           s_noise: float = 1.0):
  """EDM Alg. 2 from latents ~ N(0, I): `denoiser(x, sigma [B]) -> D(x; sigma)`. Returns x_0."""
  if solver not in SOLVERS:
    raise ConfigError(f"config.diffusion.edm.solver={solver!r}: use one of {SOLVERS}")
  if num_steps < 2:
    raise ConfigError(f"config.diffusion.edm.num_steps={num_steps}: use at least 2")
  t_np = sigma_steps(num_steps, sigma_min, sigma_max, rho)
  gammas = np.where((t_np[:-1] >= s_min) & (t_np[:-1] <= s_max),
                    min(s_churn / num_steps, math.sqrt(2) - 1), 0.0)
  t_steps, gammas = jnp.asarray(t_np, jnp.float32), jnp.asarray(gammas, jnp.float32)
  n = latents.shape[0]
  d_of = lambda x, s: (x - denoiser(x, jnp.full((n,), s))) / s

  def step(i, x, heun: bool):
    t_cur, t_next, gamma = t_steps[i], t_steps[i + 1], gammas[i]
    t_hat = t_cur + gamma * t_cur                                 # sigma_hat = (1 + gamma) sigma
    z = jax.random.normal(jax.random.fold_in(rng, i), x.shape, x.dtype)
    x_hat = x + jnp.sqrt(jnp.maximum(t_hat ** 2 - t_cur ** 2, 0.0)) * s_noise * z
    d_cur = d_of(x_hat, t_hat)
    x_next = x_hat + (t_next - t_hat) * d_cur                     # Euler step
    if heun:
      d_prime = d_of(x_next, t_next)
      x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)   # 2nd-order correction
    return x_next

  x = latents * t_steps[0]
  heun = solver == "heun"
  x = jax.lax.fori_loop(0, num_steps - 1, lambda i, x: step(i, x, heun), x)
  return step(num_steps - 1, x, False)                            # to sigma = 0: Euler only


def network_evaluations(num_steps: int, solver: str) -> int:
  """NFE of `sample`: 2N - 1 for Heun, N for Euler."""
  return 2 * num_steps - 1 if solver == "heun" else num_steps
