"""R3GAN's training ramps (Huang et al. 2024), as the official training_loop.py runs them.

Each scheduled quantity follows the official `cosine_decay_with_warmup` (no warm-up) over
`gan.ramp_steps` G steps (the official `decay_nimg` / batch), then holds its final value:

    v(t) = base + (1 - (1 + cos(pi t / T)) / 2) (final - base),   v(t > T) = final

- R1 and R2 gamma: `gan.r1_gamma` -> `gan.r1_gamma_final`, `gan.r2_gamma` -> `gan.r2_gamma_final`
  (official: 0.05 -> 0.005 on CIFAR-10, one gamma for both);
- augmentation probability with a fixed (not adaptive) ADA pipe: `gan.ada_p_init` ->
  `gan.ada_p_final` (official: 0 -> 0.55);
- EMA of G: half-life in images 0 -> `gan.ema_halflife_final_kimg` x 1000 (official 5000 kimg),
  decay per step 0.5 ** (batch / half-life); this replaces `config.ema_decay`'s constant
  decay and `gan.ema_rampup` (ema_decay > 0 still switches the EMA on).

Adam's learning rate and beta2 ramp in the optimizer (`optimizer.schedule='cosine'` with
`lr_final`, `b2_final`, `decay_steps`: lib/train/optim.py), by the same formula.
`gan.ramp_steps = 0` (the default) switches all of these off.
"""
from __future__ import annotations

import jax.numpy as jnp

from lib.errors import ConfigError


def cosine_ramp(step, base: float, final: float, steps: int):
  """The official cosine_decay_with_warmup(step, base, steps, final), without warm-up."""
  t = jnp.asarray(step, jnp.float32)
  decay = 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))
  return jnp.where(t > steps, final, base + (1.0 - decay) * (final - base))


def active(g) -> bool:
  return int(g.ramp_steps) > 0


def check(config):
  g = config.gan
  if int(g.ramp_steps) < 0:
    raise ConfigError(f"gan.ramp_steps={g.ramp_steps}: use 0 (no ramps) or the number of G "
                      f"steps the R3GAN ramps take (official decay_nimg / batch size)")
  if not active(g):
    return
  for key in ("r1_gamma_final", "r2_gamma_final", "ema_halflife_final_kimg"):
    if g[key] < 0:
      raise ConfigError(f"gan.{key}={g[key]}: use a value >= 0")
  if not 0.0 <= g.ada_p_final <= 1.0:
    raise ConfigError(f"gan.ada_p_final={g.ada_p_final}: use a probability in [0, 1]")
  if g.augment == "ada" and g.ada_adaptive and g.ada_p_final != g.ada_p_init:
    raise ConfigError("gan.ada_p_final ramps a fixed augmentation probability, but "
                      "gan.ada_adaptive=True lets ADA set p: set gan.ada_adaptive=False or "
                      "gan.ada_p_final=gan.ada_p_init")
  if g.ema_halflife_final_kimg and not config.ema_decay:
    raise ConfigError("gan.ema_halflife_final_kimg ramps the EMA of G, which is off "
                      "(config.ema_decay=0): set config.ema_decay > 0 to keep an EMA")


def gammas(g, step):
  """(R1 gamma, R2 gamma) at G step `step`."""
  if not active(g):
    return g.r1_gamma, g.r2_gamma
  n = int(g.ramp_steps)
  return (cosine_ramp(step, g.r1_gamma, g.r1_gamma_final, n),
          cosine_ramp(step, g.r2_gamma, g.r2_gamma_final, n))


def augment_p(g, step, p):
  """The augmentation probability at `step`: the ramp for a fixed ADA pipe, else p."""
  if active(g) and g.augment == "ada" and not g.ada_adaptive:
    return cosine_ramp(step, g.ada_p_init, g.ada_p_final, int(g.ramp_steps))
  return p


def ema_decay(g, step, batch_size: int):
  """The EMA decay 0.5 ** (batch / half-life(step)), or None when the ramp is off."""
  if not (active(g) and g.ema_halflife_final_kimg):
    return None
  halflife = cosine_ramp(step, 0.0, 1000.0 * g.ema_halflife_final_kimg, int(g.ramp_steps))
  return 0.5 ** (batch_size / jnp.maximum(halflife, 1e-8))
