"""Evaluators of likelihood models (lib/tasks/flow.py, lib/tasks/vae.py):

- `likelihood`: over the whole eval split, for every bound the task returns from
  `log_likelihoods(config, state, images, rng)` ({name: log P(x) or its lower bound per example,
  nats}), the mean negative log-likelihood `eval_<name>_nll_nats` and its bits per dimension
  `eval_<name>_bpd` = nll / (D ln 2), D = `task.num_dims(config)` (for the name '':
  `eval_nll_nats`, `eval_bpd`). The rng is fixed (dequantization noise, binarization, latent
  samples), so evaluations at different steps score the same draws.
- `temperature_grid`: a PNG of samples, one row per temperature in `config.eval.temperatures`,
  the same noise in every row (tasks whose `sample` takes `temperature`: the flow).
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError
from lib.tasks.bits_per_dim import bits_per_dim
from lib.train.evaluators import EvalContext, eval_batches, register
from lib.train.image_grid import save_grid

DEFAULT_TEMPERATURES = (0.0, 0.5, 0.7, 0.85, 1.0)


def _require(ctx: EvalContext, evaluator: str, hooks):
  for hook in hooks:
    if not hasattr(ctx.task, hook):
      raise ConfigError(f"config.eval.evaluators has {evaluator!r}, which needs a task with "
                        f"`{hook}` (lib.tasks.flow, lib.tasks.vae); config.task="
                        f"{ctx.config.task!r} has none: drop {evaluator!r} or change the task")


def metric_names(name: str) -> tuple[str, str]:
  return (f"eval_{name}_nll_nats", f"eval_{name}_bpd") if name else ("eval_nll_nats", "eval_bpd")


@register("likelihood")
def likelihood_evaluator(ctx: EvalContext):
  _require(ctx, "likelihood", ("log_likelihoods", "num_dims"))
  c = ctx.config
  bounds = jax.jit(functools.partial(ctx.task.log_likelihoods, c))
  d = ctx.task.num_dims(c)
  key = jax.random.fold_in(jax.random.key(c.seed), 104729)   # the same draws every evaluation

  def run(state, step, final):
    sums, count = {}, 0
    for i, batch in enumerate(eval_batches(ctx)):
      valid = batch["valid"]
      out = bounds(state, batch["image"], jax.random.fold_in(key, i))
      for name, log_lik in out.items():
        total = jnp.sum(jnp.where(valid, log_lik.astype(jnp.float32), 0.0))
        sums[name] = sums.get(name, 0.0) + float(jax.device_get(total))
      count += int(jax.device_get(valid.sum()))
    metrics = {"eval_examples": count}
    for name, total in sums.items():
      nats_key, bpd_key = metric_names(name)
      nll = -total / max(count, 1)
      metrics[nats_key] = nll
      metrics[bpd_key] = float(bits_per_dim(nll, d))
    return metrics

  return run


@register("temperature_grid")
def temperature_grid_evaluator(ctx: EvalContext):
  _require(ctx, "temperature_grid", ("sample",))
  c = ctx.config
  temperatures = tuple(float(t) for t in c.eval.get("temperatures", DEFAULT_TEMPERATURES))
  per_row = max(1, min(c.eval.num_samples, 16))
  out_dir = os.path.join(ctx.workdir, "samples")
  rng = jax.random.fold_in(jax.random.key(c.seed), 7919)    # the same noise in every row
  sample = jax.jit(lambda s, t: ctx.task.sample(c, s, rng, per_row, None, temperature=t))

  def run(state, step, final):
    rows = [np.asarray(jax.device_get(sample(state, jnp.float32(t)))) for t in temperatures]
    if ctx.is_main:
      os.makedirs(out_dir, exist_ok=True)
      grid = np.concatenate(rows)
      save_grid(os.path.join(out_dir, f"temperatures_{step:07d}.png"), grid, per_row)
      if final:
        save_grid(os.path.join(out_dir, "temperatures_final.png"), grid, per_row)
    return {}

  return run
