"""Samplers of a discrete-time Gaussian diffusion (lib/diffusion/ddpm.py), on the respaced
process the caller passes (`GaussianDiffusion.respaced(steps)`):

- DDPM ancestral sampling (Ho et al. 2020, Alg. 2): x_{t-1} = mu_theta(x_t, t) + sigma_t z, the
  variance learned or fixed, no noise at the last step;
- DDIM (Song et al. 2021, Eq. 12): x_{t-1} = sqrt(alpha_bar_{t-1}) x0_hat
  + sqrt(1 - alpha_bar_{t-1} - sigma_t^2) eps_hat + sigma_t z with
  sigma_t = eta sqrt((1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_{t-1})
  (Eq. 16); eta = 0 is deterministic, eta = 1 with all steps is DDPM with the 'small'
  variance. As in the official code, eps_hat is recomputed from the (optionally clipped) x0_hat.

`model(x, t [B]) -> output` is the network (guided or not) at the original timestep
`timestep_map[i]`; both samplers run one lax.fori_loop over the steps (one compiled body).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.diffusion.ddpm import GaussianDiffusion, _gather


def _model_t(diffusion: GaussianDiffusion, i, n: int):
  return jnp.full((n,), jnp.asarray(diffusion.timestep_map, jnp.float32)[i])


def ancestral_sample(diffusion: GaussianDiffusion, model, x_T, rng, *, learn_sigma: bool,
                     variance: str = "small", clip_denoised: bool = False):
  """x_0 from x_T by the reverse chain p_theta(x_{t-1} | x_t) (DDPM Alg. 2)."""
  n, steps = x_T.shape[0], diffusion.num_timesteps

  def body(k, x):
    i = steps - 1 - k
    t = jnp.full((n,), i, jnp.int32)
    out = model(x, _model_t(diffusion, i, n))
    p = diffusion.p_mean_variance(out, x, t, learn_sigma=learn_sigma, variance=variance,
                                  clip_denoised=clip_denoised)
    z = jax.random.normal(jax.random.fold_in(rng, i), x.shape, x.dtype)
    keep = (i > 0).astype(x.dtype)                              # no noise when t == 0
    return p["mean"] + keep * jnp.exp(0.5 * p["log_variance"]) * z

  return jax.lax.fori_loop(0, steps, body, x_T)


def ddim_sample(diffusion: GaussianDiffusion, model, x_T, rng, *, eta: float = 0.0,
                clip_denoised: bool = False):
  """x_0 from x_T by DDIM (Song et al. 2021, Eq. 12) on the given (respaced) process."""
  n, steps, c = x_T.shape[0], diffusion.num_timesteps, x_T.shape[-1]
  a, a_prev = diffusion.alphas_cumprod, diffusion.alphas_cumprod_prev
  sigma = eta * np.sqrt((1 - a_prev) / (1 - a)) * np.sqrt(1 - a / a_prev)   # Eq. 16

  def body(k, x):
    i = steps - 1 - k
    t = jnp.full((n,), i, jnp.int32)
    eps = model(x, _model_t(diffusion, i, n))[..., :c]
    x0 = diffusion.predict_x0(x, t, eps)
    if clip_denoised:
      x0 = jnp.clip(x0, -1.0, 1.0)
    eps = diffusion.predict_eps(x, t, x0)
    s = _gather(sigma, t, x.ndim)
    ap = _gather(a_prev, t, x.ndim)
    mean = jnp.sqrt(ap) * x0 + jnp.sqrt(jnp.maximum(1 - ap - s * s, 0.0)) * eps
    z = jax.random.normal(jax.random.fold_in(rng, i), x.shape, x.dtype)
    return mean + (i > 0).astype(x.dtype) * s * z

  return jax.lax.fori_loop(0, steps, body, x_T)
