"""Supervised classification: softmax cross-entropy on `batch['image'] -> batch['label']`.

Task contract (DESIGN): init, train_step, predict. Config keys used beyond the shared ones:
`config.model` (a module mapping images [B, H, W, C] to logits [B, num_classes], with a
`train: bool` call argument) and `config.label_smoothing`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.train.accumulate import value_and_grad_accumulated
from lib.train.ema import ema_update
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState


def model_of(config):
  return build_model(config.model, config.compute_dtype)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def init(config, rng, batch) -> TrainState:
  variables = model_of(config).init({"params": rng, "dropout": rng}, batch["image"][:1],
                                    train=False)
  variables = dict(variables)
  params = variables.pop("params")
  return TrainState(
      step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer_of(config).init(params),
      ema_params=params if config.ema_decay else None, model_state=variables)


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Mean softmax cross-entropy in float32, with optional label smoothing."""
  logits = logits.astype(jnp.float32)
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()


def train_step(config, state: TrainState, batch, rng):
  model, tx = model_of(config), optimizer_of(config)
  mutable = list(state.model_state.keys())

  def loss_fn(params, micro, r):
    out = model.apply({"params": params, **state.model_state}, micro["image"], train=True,
                      rngs={"dropout": r}, mutable=mutable or False)
    logits, new_model_state = out if mutable else (out, {})
    loss = cross_entropy(logits, micro["label"], config.get("label_smoothing", 0.0))
    acc = jnp.mean(jnp.argmax(logits, -1) == micro["label"])
    return loss, {"accuracy": acc, "model_state": dict(new_model_state)}

  (loss, aux), grads = value_and_grad_accumulated(
      loss_fn, state.params, batch, rng, config.optimizer.accumulate_steps)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema = ema_update(state.ema_params, params, config.ema_decay) if config.ema_decay else None
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                            ema_params=ema, model_state=aux["model_state"])
  metrics = {"loss": loss, "train_accuracy": aux["accuracy"], "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params)}  # non-finite params stop the run too
  return new_state, metrics


def predict(config, state: TrainState, batch):
  """Logits for batch['image'] with the EMA params when kept, else the params."""
  params = state.ema_params if state.ema_params is not None else state.params
  logits = model_of(config).apply({"params": params, **state.model_state}, batch["image"],
                                  train=False)
  return logits.astype(jnp.float32)
