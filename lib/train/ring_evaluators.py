"""`ring_modes`: mode coverage of a generator of 2-D points on the ring of 8 Gaussians
(lib/data/rings.py): `modes` (centres holding >= 1% of 2000 samples within 3 std) and
`high_quality` (the fraction of samples within 3 std of any centre), Metz et al. 2017,
Sec. 3.1. Measured on the raw generator output: task.sample clips images to [-1, 1], which
would fold the radius-2 ring onto the square's corners."""
from __future__ import annotations

import jax
import numpy as np

from lib.data.rings import mode_coverage
from lib.errors import ConfigError
from lib.train.evaluators import EvalContext, register

NUM_SAMPLES = 2000


def generator_points(config, state, rng, n: int = NUM_SAMPLES):
  """[n, 2]: the generator's raw outputs for n draws of z (EMA weights when kept), unclipped."""
  from lib.tasks import gan
  G = gan.generator_of(config)
  params = state.ema_params if state.ema_params is not None else state.params["G"]
  z = gan.sample_z(rng, n, config.gan.z_dim)
  out, _ = gan.apply_model(G, params, state.model_state["G"], z, None, train=False)
  return out.reshape(n, 2)


@register("ring_modes")
def ring_modes_evaluator(ctx: EvalContext):
  """modes and high_quality of NUM_SAMPLES generator points with fixed noise."""
  c = ctx.config
  if not hasattr(ctx.task, "generator_of"):
    raise ConfigError(f"config.eval.evaluators has 'ring_modes', which needs a generator: set "
                      f"config.task='lib.tasks.gan' (now {c.task!r}) or drop 'ring_modes'")
  rng = jax.random.key(c.seed + 12345)
  points = jax.jit(lambda s: generator_points(c, s, rng))

  def run(state, step, final):
    return mode_coverage(np.asarray(jax.device_get(points(state))))
  return run
