"""Noise schedules of discrete-time Gaussian diffusion: beta_1..beta_T as float64 numpy arrays.

Follows the official guided/improved-diffusion code that DiT vendors
(facebookresearch/DiT diffusion/gaussian_diffusion.py, `get_named_beta_schedule`):
- linear (Ho et al. 2020, Sec. 4): betas evenly spaced from 1e-4 to 0.02 over 1000 steps; for
  another T both ends are scaled by 1000 / T so that the total noise stays comparable;
- cosine (Nichol & Dhariwal 2021, Eq. 17): alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) pi/2)
  with s = 0.008, beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1), clipped at 0.999.
"""
from __future__ import annotations

import math

import numpy as np

from lib.errors import ConfigError

SCHEDULES = ("linear", "cosine")


def linear_betas(num_timesteps: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02) -> np.ndarray:
  """beta_t evenly spaced in [beta_start, beta_end] x 1000/T (DDPM's 1e-4 .. 0.02 at T = 1000)."""
  scale = 1000.0 / num_timesteps
  return np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64)


def cosine_betas(num_timesteps: int = 1000, s: float = 0.008,
                 max_beta: float = 0.999) -> np.ndarray:
  """beta_t = min(1 - alpha_bar(t/T) / alpha_bar((t-1)/T), max_beta) (iDDPM Eq. 17)."""
  alpha_bar = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
  return np.array([min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps),
                       max_beta) for i in range(num_timesteps)], dtype=np.float64)


def betas_of(name: str, num_timesteps: int) -> np.ndarray:
  """The schedule named by config.diffusion.schedule."""
  if name == "linear":
    return linear_betas(num_timesteps)
  if name == "cosine":
    return cosine_betas(num_timesteps)
  raise ConfigError(f"config.diffusion.schedule={name!r} is not a schedule: use one of "
                    f"{SCHEDULES}")
