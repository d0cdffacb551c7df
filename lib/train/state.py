"""The train state: a pytree holding step, params, optimizer state, EMA params and model state."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.train.ema import ema_update


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar, number of updates done
  params: Any              # fp32 params (plain pytree)
  opt_state: Any
  ema_params: Any = None   # None when config.ema_decay == 0
  model_state: Any = None  # non-trained collections (batch_stats, spectral-norm vectors, ...)

  @property
  def eval_params(self):
    """The params evaluation and sampling use: the EMA when kept, else the trained ones."""
    return self.ema_params if self.ema_params is not None else self.params

  @classmethod
  def create(cls, variables: dict, tx, ema_decay: float) -> "TrainState":
    """Step 0 from a module's `init` variables: 'params' trained by `tx`, every other
    collection kept as model_state, the EMA started at the params when `ema_decay` > 0."""
    variables = dict(variables)
    params = variables.pop("params")
    return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
               ema_params=params if ema_decay else None, model_state=variables)

  def apply_gradients(self, grads, tx, ema_decay: float, **changes):
    """One update: params and opt_state from `tx`, step + 1, the EMA advanced when
    `ema_decay` > 0 (ema <- decay * ema + (1 - decay) * params); `changes` replace other
    fields (model_state)."""
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    params = optax.apply_updates(self.params, updates)
    ema = ema_update(self.ema_params, params, ema_decay) if ema_decay else None
    return self.replace(step=self.step + 1, params=params, opt_state=opt_state,
                        ema_params=ema, **changes)
