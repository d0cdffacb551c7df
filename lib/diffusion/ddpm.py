"""Discrete-time Gaussian diffusion (Ho et al. 2020, "Denoising Diffusion Probabilistic Models";
Nichol & Dhariwal 2021, "Improved DDPM"): the forward process, the posterior, the model's
reverse distribution, the training losses, and respacing.

Follows the official code DiT vendors (facebookresearch/DiT diffusion/gaussian_diffusion.py and
respace.py, from openai/improved-diffusion):
- epsilon prediction; L_simple = E ||eps - eps_theta(x_t, t)||^2, the mean over pixels;
- learned variance (`learn_sigma`): the network also outputs v in [-1, 1] per pixel and
  log Sigma = frac log beta_t + (1 - frac) log beta~_t with frac = (v + 1) / 2 (iDDPM Eq. 15);
  the hybrid loss L_simple + vb_weight L_vlb, where L_vlb is the KL of the posterior against
  p_theta (decoder NLL at t = 0) in bits per dimension, with the mean stopped (iDDPM Sec. 3.1).
  DiT adds the two with weight 1 (loss type MSE, no rescaling); iDDPM's lambda = 0.001 is the
  same weight on L_vlb = T E_t[L_t] at T = 1000;
- fixed variances otherwise: 'small' (beta~_t, the posterior variance, with its t = 0 entry
  replaced by t = 1 before the log) or 'large' (beta_t, with beta~_1 at t = 0);
- the decoder NLL of the discretized Gaussian over 256 bins of [-1, 1]; the official code uses
  a tanh approximation of the normal CDF, this uses the exact one (jax.scipy ndtr);
- respacing: a subset S of the timesteps defines a new process with alpha_bar'_i =
  alpha_bar_{S_i} and beta'_i = 1 - alpha_bar'_i / alpha_bar'_{i-1}; the network is called with
  the original timestep S_i (`timestep_map`). `spaced_timesteps` is the official
  single-section spacing (evenly spaced, rounded, first and last step kept).

Arrays are float64 numpy constants; the jnp functions gather them at t [B] in float32.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from lib.diffusion.schedules import betas_of
from lib.errors import ConfigError

VARIANCES = ("small", "large")


def spaced_timesteps(num_timesteps: int, steps: int) -> np.ndarray:
  """`steps` of range(num_timesteps), evenly spaced with the ends kept (official respace.py
  `space_timesteps(T, [steps])`); steps 0 or T: all of them."""
  if not steps or steps == num_timesteps:
    return np.arange(num_timesteps)
  if not 1 < steps < num_timesteps:
    raise ConfigError(f"sample_steps={steps}: use 0 (all), or 2 .. {num_timesteps - 1}")
  stride = (num_timesteps - 1) / (steps - 1)
  return np.array(sorted({round(i * stride) for i in range(steps)}))


def _gather(arr: np.ndarray, t, ndim: int):
  """arr[t] as float32, shaped [B, 1, ..., 1] to broadcast against a [B, ...] tensor."""
  v = jnp.asarray(arr, jnp.float32)[t]
  return v.reshape(v.shape + (1,) * (ndim - 1))


def mean_flat(x):
  """The mean over every axis but the batch."""
  return jnp.mean(x, axis=tuple(range(1, x.ndim)))


def normal_kl(mean1, logvar1, mean2, logvar2):
  """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
  return 0.5 * (-1.0 + logvar2 - logvar1 + jnp.exp(logvar1 - logvar2)
                + jnp.square(mean1 - mean2) * jnp.exp(-logvar2))


def discretized_gaussian_log_likelihood(x, mean, log_scale):
  """log P(x) of data in [-1, 1] quantised to 256 bins under N(mean, e^{2 log_scale}); the end
  bins take the tails (DDPM Eq. 13)."""
  inv = jnp.exp(-log_scale)
  cdf_plus = ndtr(inv * (x - mean + 1.0 / 255))
  cdf_min = ndtr(inv * (x - mean - 1.0 / 255))
  log = lambda v: jnp.log(jnp.maximum(v, 1e-12))
  return jnp.where(x < -0.999, log(cdf_plus),
                   jnp.where(x > 0.999, log(1.0 - cdf_min), log(cdf_plus - cdf_min)))


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianDiffusion:
  """The process defined by betas [N]; `timestep_map[i]` is the network's timestep of index i
  (the identity unless respaced)."""
  betas: np.ndarray
  timestep_map: np.ndarray

  @classmethod
  def from_schedule(cls, schedule: str = "linear", num_timesteps: int = 1000):
    return cls(betas_of(schedule, num_timesteps), np.arange(num_timesteps))

  @property
  def num_timesteps(self) -> int:
    return len(self.betas)

  def respaced(self, steps: int) -> "GaussianDiffusion":
    """The process on `spaced_timesteps(N, steps)` (official SpacedDiffusion)."""
    use = spaced_timesteps(self.num_timesteps, steps)
    acp = self.alphas_cumprod[use]
    betas = 1.0 - acp / np.concatenate([[1.0], acp[:-1]])   # beta'_i = 1 - abar'_i / abar'_{i-1}
    return GaussianDiffusion(betas, self.timestep_map[use])

  @functools.cached_property
  def alphas_cumprod(self) -> np.ndarray:
    return np.cumprod(1.0 - self.betas)                         # alpha_bar_t = prod (1 - beta_s)

  @functools.cached_property
  def alphas_cumprod_prev(self) -> np.ndarray:
    return np.concatenate([[1.0], self.alphas_cumprod[:-1]])

  @functools.cached_property
  def posterior_variance(self) -> np.ndarray:
    # beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t   (DDPM Eq. 7)
    return self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

  @functools.cached_property
  def posterior_log_variance_clipped(self) -> np.ndarray:
    v = self.posterior_variance
    return np.log(np.concatenate([v[1:2], v[1:]]))             # beta~_0 = 0: use beta~_1

  # --- the forward process and its posterior --------------------------------------------------

  def q_sample(self, x0, t, noise):
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps   (DDPM Eq. 4)."""
    a = self.alphas_cumprod
    return _gather(np.sqrt(a), t, x0.ndim) * x0 + _gather(np.sqrt(1 - a), t, x0.ndim) * noise

  def q_posterior(self, x0, xt, t):
    """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0)   (DDPM Eq. 6-7)."""
    a, ap, b = self.alphas_cumprod, self.alphas_cumprod_prev, self.betas
    c1 = b * np.sqrt(ap) / (1 - a)
    c2 = (1 - ap) * np.sqrt(1 - b) / (1 - a)
    mean = _gather(c1, t, xt.ndim) * x0 + _gather(c2, t, xt.ndim) * xt
    return (mean, _gather(self.posterior_variance, t, xt.ndim),
            _gather(self.posterior_log_variance_clipped, t, xt.ndim))

  def predict_x0(self, xt, t, eps):
    """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    a = self.alphas_cumprod
    return (_gather(np.sqrt(1 / a), t, xt.ndim) * xt
            - _gather(np.sqrt(1 / a - 1), t, xt.ndim) * eps)

  def predict_eps(self, xt, t, x0):
    """The inverse of predict_x0: eps from x_t and x_0."""
    a = self.alphas_cumprod
    return ((_gather(np.sqrt(1 / a), t, xt.ndim) * xt - x0)
            / _gather(np.sqrt(1 / a - 1), t, xt.ndim))

  # --- the reverse process ----------------------------------------------------------------------

  def p_mean_variance(self, out, xt, t, *, learn_sigma: bool, variance: str = "small",
                      clip_denoised: bool = False):
    """p_theta(x_{t-1} | x_t) from the network output [B, ..., C or 2C]: dict of mean,
    log_variance, pred_x0, eps."""
    c = xt.shape[-1]
    if learn_sigma:
      eps, v = out[..., :c], out[..., c:]
      min_log = _gather(self.posterior_log_variance_clipped, t, xt.ndim)
      max_log = _gather(np.log(self.betas), t, xt.ndim)
      frac = (v + 1) / 2
      log_var = frac * max_log + (1 - frac) * min_log           # iDDPM Eq. 15
    else:
      eps = out
      if variance == "small":
        log_var = _gather(self.posterior_log_variance_clipped, t, xt.ndim)
      elif variance == "large":
        large = np.concatenate([self.posterior_variance[1:2], self.betas[1:]])
        log_var = _gather(np.log(large), t, xt.ndim)
      else:
        raise ConfigError(f"config.diffusion.ddpm.variance={variance!r}: use one of {VARIANCES}")
      log_var = jnp.broadcast_to(log_var, xt.shape)
    x0 = self.predict_x0(xt, t, eps)
    if clip_denoised:
      x0 = jnp.clip(x0, -1.0, 1.0)
    mean, _, _ = self.q_posterior(x0, xt, t)
    return {"mean": mean, "log_variance": log_var, "pred_x0": x0, "eps": eps}

  # --- training ---------------------------------------------------------------------------------

  def vb_terms_bpd(self, out, x0, xt, t):
    """L_t in bits per dimension [B]: KL(q(x_{t-1}|x_t,x_0) || p_theta) for t > 0, the decoder
    NLL -log p_theta(x_0 | x_1) at t = 0   (DDPM Eq. 5)."""
    true_mean, _, true_log_var = self.q_posterior(x0, xt, t)
    p = self.p_mean_variance(out, xt, t, learn_sigma=True)
    kl = mean_flat(normal_kl(true_mean, true_log_var, p["mean"], p["log_variance"])) / math.log(2)
    nll = -mean_flat(discretized_gaussian_log_likelihood(
        x0, p["mean"], 0.5 * p["log_variance"])) / math.log(2)
    return jnp.where(t == 0, nll, kl)

  def training_losses(self, out, x0, xt, t, noise, *, learn_sigma: bool, vb_weight: float = 1.0):
    """Per-example losses {'loss', 'mse', 'vb'?} of the network output `out` at (x_t, t)."""
    c = x0.shape[-1]
    eps = out[..., :c]
    mse = mean_flat(jnp.square(noise - eps))                    # L_simple (DDPM Eq. 14)
    if not learn_sigma:
      return {"loss": mse, "mse": mse}
    frozen = jnp.concatenate([jax.lax.stop_gradient(eps), out[..., c:]], axis=-1)
    vb = self.vb_terms_bpd(frozen, x0, xt, t)                   # L_vlb trains Sigma only
    return {"loss": mse + vb_weight * vb, "mse": mse, "vb": vb}
