"""Supervised classification: softmax cross-entropy on `batch['image'] -> batch['label']`.

Task contract (DESIGN): init, train_step, predict. Config keys used beyond the shared ones:
`config.model` (a module mapping images [B, H, W, C] to logits [B, num_classes], with a
`train: bool` call argument) and `config.label_smoothing`.

Optional `config.matryoshka` (Kusupati et al., 2022, "Matryoshka Representation Learning"):
with a non-empty `nesting` (e.g. (4, 8, 16, 32, 64)) the model is wrapped in
lib.nn.matryoshka.Matryoshka (one linear head per prefix z[:m] of the backbone's
representation; `efficient=True` for the weight-tied MRL-E), trained with the sum over m of
the cross-entropies weighted by `weights` (empty = 1 each, as the official Matryoshka_CE_Loss);
predict gives the largest prefix's logits. The train step takes the objective as an argument,
so lib/tasks/distill.py reuses it whole (DeiT distillation).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.errors import ConfigError
from lib.nn.matryoshka import Matryoshka
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState


def nesting_of(config) -> tuple:
  """The Matryoshka nesting dims (empty when the key is absent or off)."""
  mrl = config.get("matryoshka")
  return tuple(mrl.nesting) if mrl is not None and mrl.get("nesting") else ()


def model_of(config):
  model = build_model(config.model, config.compute_dtype)
  nesting = nesting_of(config)
  if not nesting:
    return model
  return Matryoshka(backbone=model, num_classes=config.model.num_classes, nesting=nesting,
                    efficient=bool(config.matryoshka.get("efficient", False)),
                    pool=config.matryoshka.get("pool", "first"),
                    dtype=getattr(model, "dtype", jnp.float32))


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def init(config, rng, batch) -> TrainState:
  variables = model_of(config).init({"params": rng, "dropout": rng}, batch["image"][:1],
                                    train=False)
  return TrainState.create(variables, optimizer_of(config), config.ema_decay)


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Mean softmax cross-entropy in float32, with optional label smoothing."""
  logits = logits.astype(jnp.float32)
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()


def matryoshka_cross_entropy(nested_logits, labels, weights=(), label_smoothing: float = 0.0):
  """L_MRL = sum_m c_m CE(W_m z[:m], y) over the nesting dims (MRL Eq. 1; official
  Matryoshka_CE_Loss: the weighted sum, not the mean, c_m = 1 unless `weights` are given).
  nested_logits [G, B, C], one slice per nesting dim."""
  weights = tuple(weights) or (1.0,) * nested_logits.shape[0]
  return sum(c * cross_entropy(z, labels, label_smoothing)
             for c, z in zip(weights, nested_logits))


def classification_objective(config, state, outputs, micro):
  """(loss, logits the train accuracy is read from, extra metrics) of one micro-batch:
  the cross-entropy, or the Matryoshka sum when config.matryoshka.nesting is set."""
  smoothing = config.get("label_smoothing", 0.0)
  if isinstance(outputs, tuple):
    raise ConfigError("the model returned two heads' logits (config.model.distillation=True): "
                      "train it with task lib.tasks.distill and a config.distill block, or set "
                      "config.model.distillation=False")
  if nesting_of(config):
    weights = tuple(config.matryoshka.get("weights", ()))
    loss = matryoshka_cross_entropy(outputs, micro["label"], weights, smoothing)
    return loss, outputs[-1], {}
  return cross_entropy(outputs, micro["label"], smoothing), outputs, {}


def train_step(config, state: TrainState, batch, rng, objective=classification_objective):
  """One update. objective(config, state, model outputs, micro-batch) -> (loss, logits,
  metrics) is the loss (lib/tasks/distill.py passes the DeiT one); the rest is shared."""
  model, tx = model_of(config), optimizer_of(config)
  mutable = list(state.model_state.keys())

  def loss_fn(params, micro, r):
    out = model.apply({"params": params, **state.model_state}, micro["image"], train=True,
                      rngs={"dropout": r}, mutable=mutable or False)
    outputs, new_model_state = out if mutable else (out, {})
    loss, logits, extra = objective(config, state, outputs, micro)
    acc = jnp.mean(jnp.argmax(logits, -1) == micro["label"])
    return loss, {"accuracy": acc, "model_state": dict(new_model_state), "extra": extra}

  (loss, aux), grads = value_and_grad_accumulated(
      loss_fn, state.params, batch, rng, config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay, model_state=aux["model_state"])
  params = new_state.params
  metrics = {"loss": loss, "train_accuracy": aux["accuracy"], "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params),  # non-finite params stop the run too
             **aux["extra"]}
  return new_state, metrics


def predict(config, state: TrainState, batch):
  """Logits for batch['image'] with the EMA params when kept, else the params."""
  params = state.eval_params
  logits = model_of(config).apply({"params": params, **state.model_state}, batch["image"],
                                  train=False)
  if nesting_of(config):
    logits = logits[-1]  # Matryoshka: the largest prefix's head
  return logits.astype(jnp.float32)
