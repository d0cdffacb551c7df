"""The one interface between a diffusion backbone and the formulation that trains it.

A backbone is any network `net(x [B, H, W, C], noise_level [B], labels [B] or None) -> [B, H, W,
C_out]`; it does not know which formulation trains it. `config.diffusion.formulation` picks
one; each gives
- out_channels(C): C, or 2C for DDPM with a learned variance;
- loss(net, x0, labels, rng) -> (per-example loss [B], metrics {name: [B]});
- sample(net, x_T [B, H, W, C] ~ N(0, I), labels, rng) -> x_0.

  ddpm  noise_level = the timestep t in [0, T) (the original t when respaced); the net predicts
        eps (and v for the learned variance); sampler 'ancestral' or 'ddim' (eta) on
        `sample_steps` respaced steps (0 = all T).
  edm   noise_level = c_noise = ln(sigma) / 4; the net is F_theta inside the preconditioning;
        sampler Heun or Euler on the rho schedule, churn optional.

Classifier-free guidance is the caller's: it wraps `net` so that the first C output channels
are uncond + s (cond - uncond) (lib/tasks/diffusion.py); for EDM that is the same as guiding D,
which is affine in F at a fixed x and sigma.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lib.diffusion import ddpm as ddpm_lib
from lib.diffusion import ddpm_samplers
from lib.diffusion import edm as edm_lib
from lib.errors import ConfigError

FORMULATIONS = ("ddpm", "edm")
DDPM_SAMPLERS = ("ancestral", "ddim")


@dataclasses.dataclass(frozen=True, eq=False)
class DDPM:
  """Epsilon prediction on a discrete schedule (config.diffusion.ddpm.*)."""
  diffusion: ddpm_lib.GaussianDiffusion
  learn_sigma: bool = False
  vb_weight: float = 1.0
  variance: str = "small"
  sampler: str = "ancestral"
  sample_steps: int = 0
  eta: float = 0.0
  clip_denoised: bool = False

  def out_channels(self, channels: int) -> int:
    return 2 * channels if self.learn_sigma else channels

  def loss(self, net, x0, labels, rng):
    kt, kn = jax.random.split(rng)
    t = jax.random.randint(kt, (x0.shape[0],), 0, self.diffusion.num_timesteps)
    noise = jax.random.normal(kn, x0.shape, x0.dtype)
    xt = self.diffusion.q_sample(x0, t, noise)
    out = net(xt, t.astype(jnp.float32), labels).astype(jnp.float32)
    terms = self.diffusion.training_losses(out, x0, xt, t, noise, learn_sigma=self.learn_sigma,
                                           vb_weight=self.vb_weight)
    return terms.pop("loss"), terms

  def sample(self, net, x_T, labels, rng):
    model = lambda x, t: net(x, t, labels).astype(jnp.float32)
    process = self.diffusion.respaced(self.sample_steps)
    if self.sampler == "ancestral":
      return ddpm_samplers.ancestral_sample(process, model, x_T, rng,
                                            learn_sigma=self.learn_sigma, variance=self.variance,
                                            clip_denoised=self.clip_denoised)
    return ddpm_samplers.ddim_sample(process, model, x_T, rng, eta=self.eta,
                                     clip_denoised=self.clip_denoised)


@dataclasses.dataclass(frozen=True, eq=False)
class EDM:
  """Preconditioned denoiser D_theta (config.diffusion.edm.*)."""
  sigma_data: float = 0.5
  p_mean: float = -1.2
  p_std: float = 1.2
  num_steps: int = 18
  sigma_min: float = 0.002
  sigma_max: float = 80.0
  rho: float = 7.0
  solver: str = "heun"
  s_churn: float = 0.0
  s_min: float = 0.0
  s_max: float = float("inf")
  s_noise: float = 1.0

  def out_channels(self, channels: int) -> int:
    return channels

  def loss(self, net, x0, labels, rng):
    f = lambda x, c_noise, y: net(x, c_noise, y).astype(jnp.float32)
    loss, sigma = edm_lib.training_loss(f, x0, labels, rng, p_mean=self.p_mean,
                                        p_std=self.p_std, sigma_data=self.sigma_data)
    return loss, {"sigma": sigma}

  def sample(self, net, x_T, labels, rng):
    f = lambda x, c_noise, y: net(x, c_noise, y).astype(jnp.float32)
    denoiser = lambda x, sigma: edm_lib.denoise(f, x, sigma, labels, self.sigma_data)
    return edm_lib.sample(denoiser, x_T, rng, num_steps=self.num_steps,
                          sigma_min=self.sigma_min, sigma_max=self.sigma_max, rho=self.rho,
                          solver=self.solver, s_churn=self.s_churn, s_min=self.s_min,
                          s_max=self.s_max, s_noise=self.s_noise)


def formulation_of(diffusion_config):
  """The formulation named by config.diffusion.formulation, from its sub-config."""
  name = diffusion_config.formulation
  if name == "ddpm":
    d = diffusion_config.ddpm
    if d.sampler not in DDPM_SAMPLERS:
      raise ConfigError(f"config.diffusion.ddpm.sampler={d.sampler!r}: use one of "
                        f"{DDPM_SAMPLERS}")
    if d.variance not in ddpm_lib.VARIANCES:
      raise ConfigError(f"config.diffusion.ddpm.variance={d.variance!r}: use one of "
                        f"{ddpm_lib.VARIANCES}")
    return DDPM(ddpm_lib.GaussianDiffusion.from_schedule(d.schedule, d.num_timesteps),
                learn_sigma=bool(d.learn_sigma), vb_weight=float(d.vb_weight),
                variance=d.variance, sampler=d.sampler, sample_steps=int(d.sample_steps),
                eta=float(d.eta), clip_denoised=bool(d.clip_denoised))
  if name == "edm":
    e = diffusion_config.edm
    if e.solver not in edm_lib.SOLVERS:
      raise ConfigError(f"config.diffusion.edm.solver={e.solver!r}: use one of "
                        f"{edm_lib.SOLVERS}")
    return EDM(sigma_data=e.sigma_data, p_mean=e.p_mean, p_std=e.p_std,
               num_steps=int(e.num_steps), sigma_min=e.sigma_min, sigma_max=e.sigma_max,
               rho=e.rho, solver=e.solver, s_churn=e.s_churn, s_min=e.s_min, s_max=e.s_max,
               s_noise=e.s_noise)
  raise ConfigError(f"config.diffusion.formulation={name!r}: use one of {FORMULATIONS}")
