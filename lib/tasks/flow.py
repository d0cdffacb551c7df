"""Normalizing flows trained by maximum likelihood on dequantized images (Glow, research/glow).

Task contract (DESIGN): init, train_step, sample, plus the likelihood evaluator's hooks
`log_likelihoods(config, state, images, rng)` and `num_dims(config)`
(lib/train/likelihood_evaluators.py).

Objective (official openai/glow `_f_loss`): images in [-1, 1] -> n_bins levels
(`config.flow.n_bins`) -> z = k / n_bins - 0.5 + U(0, 1 / n_bins); loss = bits per dimension
-(log p(z) - D log n_bins) / (D ln 2), the mean over the batch (D = H W C).

Data-dependent init: the loop builds the state from a batch of zeros (it cannot know the data
at init), so actnorm's statistics are taken in the first train step: while `state.step == 0`
(a lax.cond, so later steps skip it) the step re-runs `model.init` on its own dequantized
batch and starts from those params (and the 'constants' collection of the LU form), the EMA
reset to them; the gradient step then follows in the same call. Resuming never repeats it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.tasks.bits_per_dim import bits_per_dim
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState
from research.glow.model import Glow, dequantize, discrete_log_likelihood, postprocess, to_bins


def model_of(config):
  return build_model(config.model)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def num_dims(config) -> int:
  """D = H W C of the data."""
  return int(config.data.image_size) ** 2 * int(config.data.channels)


def _dequantized(config, images, rng):
  n_bins = int(config.flow.n_bins)
  return dequantize(to_bins(images, n_bins), n_bins, rng)


def _ddi_variables(config, rng, images):
  """model.init on the batch: every actnorm set from the statistics of what reaches it."""
  k_init, k_noise = jax.random.split(rng)
  return model_of(config).init(k_init, _dequantized(config, images, k_noise),
                               method=Glow.log_prob)


def init(config, rng, batch) -> TrainState:
  variables = _ddi_variables(config, rng, batch["image"])
  return TrainState.create(variables, optimizer_of(config), config.ema_decay)


def log_likelihoods(config, state: TrainState, images, rng):
  """{'': log P(x) bound per example [B] (nats)}: one dequantization draw per image, as the
  official test loss."""
  x = _dequantized(config, images, rng)
  log_pz = model_of(config).apply({"params": state.eval_params, **state.model_state}, x,
                                  method=Glow.log_prob)
  return {"": discrete_log_likelihood(log_pz, num_dims(config), int(config.flow.n_bins))}


def _data_dependent_start(config, state: TrainState, batch, rng) -> TrainState:
  def fresh(s):
    variables = dict(_ddi_variables(config, rng, batch["image"]))
    params = variables.pop("params")
    return s.replace(params=params, model_state=variables,
                     ema_params=params if s.ema_params is not None else None)
  return jax.lax.cond(state.step == 0, fresh, lambda s: s, state)


def train_step(config, state: TrainState, batch, rng):
  model, tx = model_of(config), optimizer_of(config)
  k_ddi, k_step = jax.random.split(rng)
  state = _data_dependent_start(config, state, batch, k_ddi)
  d, n_bins = num_dims(config), int(config.flow.n_bins)

  def loss_fn(params, micro, r):
    x = _dequantized(config, micro["image"], r)
    log_pz = model.apply({"params": params, **state.model_state}, x, method=Glow.log_prob)
    nll = -discrete_log_likelihood(log_pz, d, n_bins)
    bpd = jnp.mean(bits_per_dim(nll, d))                  # -(log p(z) - D log n_bins)/(D ln 2)
    return bpd, {"nll_nats": jnp.mean(nll)}

  (loss, aux), grads = value_and_grad_accumulated(loss_fn, state.params, batch, k_step,
                                                  config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay)
  params = new_state.params
  return new_state, {"loss": loss, "bpd": loss, **aux, "grad_norm": optax.global_norm(grads),
                     "param_norm": optax.global_norm(params)}


def sample(config, state: TrainState, rng, n: int, labels=None, temperature=None):
  """n images [n, H, W, C] in [-1, 1] (their bins) at `temperature` (config.flow.temperature
  when None), from the EMA params when kept."""
  del labels   # unconditional
  t = config.flow.temperature if temperature is None else temperature
  shape = (int(config.data.image_size),) * 2 + (int(config.data.channels),)
  z = model_of(config).apply({"params": state.eval_params, **state.model_state}, rng, n, shape,
                             t, method=Glow.sample)
  return postprocess(z, int(config.flow.n_bins))
