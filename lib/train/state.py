"""The train state: a pytree holding step, params, optimizer state, EMA params and model state."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar, number of updates done
  params: Any              # fp32 params (plain pytree)
  opt_state: Any
  ema_params: Any = None   # None when config.ema_decay == 0
  model_state: Any = None  # non-trained collections (batch_stats, spectral-norm vectors, ...)
