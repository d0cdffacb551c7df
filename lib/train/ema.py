"""Exponential moving average of parameters (Polyak averaging), used for EMA of G and eval params."""
import jax
import jax.numpy as jnp


def ema_update(ema_params, params, decay: float):
  """ema <- decay * ema + (1 - decay) * params."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p.astype(e.dtype), ema_params, params)


def ema_decay_at(step, decay: float, start: int = 0, rampup: float = 0.0):
  """The decay used by the update that ends step `step` (0-based).

  Before `start` it is 0 (the EMA copies the params: BigGAN's ema_start). With `rampup` > 0
  the EMA's half-life, in steps, is capped at rampup x steps done (StyleGAN2-ADA's
  ema_rampup: ema_nimg = min(ema_nimg, cur_nimg * rampup)), so in a short run the random
  initialization does not linger in the average: decay_t = min(decay, 0.5 ** (1 / (rampup *
  (step + 1)))).
  """
  d = jnp.asarray(decay, jnp.float32)
  if rampup:
    d = jnp.minimum(d, 0.5 ** (1.0 / (rampup * (jnp.asarray(step, jnp.float32) + 1.0))))
  return jnp.where(jnp.asarray(step) < start, 0.0, d)
