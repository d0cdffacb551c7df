"""Diffusion-GAN (Wang et al. 2023, "Diffusion-GAN: Training GANs with Diffusion"): instance
noise drawn from a forward diffusion whose length T adapts to D, and a D told the timestep.

Everything D sees, reals and fakes, is replaced by a sample of the forward chain
  x_t = sqrt(abar_t) x + sqrt(1 - abar_t) sigma eps,  eps ~ N(0, I)      (paper Eq. 4)
with sigma = `gan.diffusion_noise_std` (0.05), abar_t = prod_{k <= t} (1 - beta_k) and the
betas linear from beta_start = 1e-4 to beta_end = 2e-2 over the *current* T steps (the official
Diffusion.set_diffusion_process rebuilds the schedule for every new T, so a longer chain is
also a gentler one per step). D is conditioned on t (official: the raw t concatenated to the
label before D's mapping network; research/stylegan2 `timestep_conditioning`).

t: with probability 1/2 t = 0 (the clean image, abar_0 = 1), else t in {1..T} drawn with
P(t) proportional to t - 1 ('priority', official default) or uniformly ('uniform'). The
official code draws 32 such candidates (plus 32 zeros) at every T update and gives each image
one of the 64; drawing every image's t from the same mixture directly has the same marginal
without the correlation between the images of a few steps.

Adaptive T (paper Eq. 9, official training_loop.py): every `gan.ada_interval` D steps
  p <- clip(p + sign(r_d - d_target) * batch * interval / (ada_kimg * 1000), 0, 1),
  r_d = E[sign(D(x_real, t))],  T = clip(t_min + round(p (t_max - t_min)), t_min, t_max),
the same update as ADA's p (gan_augment.ada_adjust) with the official Diffusion-GAN defaults
target 0.6, ada_kimg 100, t_min 10, t_max 1000, p starting at 0 (T = 10).
The official code can also run ADA or DiffAugment inside the diffusion ('aug' option); this
project keeps one augmentation key, so the diffusion runs alone.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

TS_DISTS = ("priority", "uniform")


def current_T(p, t_min: int, t_max: int):
  """T = clip(t_min + round(p (t_max - t_min)), t_min, t_max) as int32 (official update_T)."""
  t = t_min + jnp.round(p * (t_max - t_min))
  return jnp.clip(t, t_min, t_max).astype(jnp.int32)


def alpha_bar(t, T, t_max: int, beta_start: float = 1e-4, beta_end: float = 2e-2):
  """abar_t = prod_{k=1..t} (1 - beta_k), beta_k = linspace(beta_start, beta_end, T)[k - 1];
  t [B] int in [0, T], T a traced int <= t_max (abar_0 = 1)."""
  k = jnp.arange(1, t_max + 1, dtype=jnp.float32)                       # [t_max]
  frac = (k - 1.0) / jnp.maximum(T.astype(jnp.float32) - 1.0, 1.0)
  betas = beta_start + (beta_end - beta_start) * frac                    # np.linspace over T
  log_keep = jnp.log1p(-betas)
  mask = k[None, :] <= t[:, None].astype(jnp.float32)                    # k <= t
  return jnp.exp(jnp.sum(jnp.where(mask, log_keep[None, :], 0.0), axis=1))


def sample_t(rng, n: int, T, t_max: int, ts_dist: str = "priority"):
  """n timesteps: 0 with probability 1/2, else from {1..T} with P(t) ~ t - 1 ('priority') or
  uniform ('uniform')."""
  if ts_dist not in TS_DISTS:
    raise ValueError(f"config.gan.diffusion_ts_dist={ts_dist!r}: use one of {TS_DISTS}")
  k_zero, k_t = jax.random.split(rng)
  values = jnp.arange(1, t_max + 1)
  valid = values <= T
  weight = (values - 1).astype(jnp.float32) if ts_dist == "priority" else jnp.ones(t_max)
  logits = jnp.where(valid & (weight > 0), jnp.log(jnp.maximum(weight, 1e-30)), -jnp.inf)
  t = jax.random.categorical(k_t, logits, shape=(n,)) + 1
  clean = jax.random.bernoulli(k_zero, 0.5, (n,))
  return jnp.where(clean, 0, t).astype(jnp.int32)


def diffuse(x, rng, p, *, t_min: int = 10, t_max: int = 1000, noise_std: float = 0.05,
            beta_start: float = 1e-4, beta_end: float = 2e-2, ts_dist: str = "priority"):
  """(x_t, t): x [B, H, W, C] through q(x_t | x_0) at the T that p gives (Eq. 4)."""
  kt, ke = jax.random.split(rng)
  T = current_T(p, t_min, t_max)
  t = sample_t(kt, x.shape[0], T, t_max, ts_dist)
  ab = alpha_bar(t, T, t_max, beta_start, beta_end).reshape((-1,) + (1,) * (x.ndim - 1))
  eps = jax.random.normal(ke, x.shape, jnp.float32)
  x_t = jnp.sqrt(ab) * x.astype(jnp.float32) + jnp.sqrt(1.0 - ab) * noise_std * eps
  return x_t.astype(x.dtype), t
