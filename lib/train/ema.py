"""Exponential moving average of parameters (Polyak averaging), used for EMA of G and eval params."""
import jax


def ema_update(ema_params, params, decay: float):
  """ema <- decay * ema + (1 - decay) * params."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p.astype(e.dtype), ema_params, params)
