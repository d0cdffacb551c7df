"""Optax optimizers from `config.optimizer`: schedule, clipping, weight-decay mask, lr multipliers."""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib.train.param_paths import path_str, regex_mask


def make_schedule(c: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  lr, warm = c.learning_rate, c.warmup_steps
  decay_steps = max(total_steps - warm, 1)
  if c.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif c.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps)
  elif c.schedule == "linear":
    main = optax.linear_schedule(lr, 0.0, decay_steps)
  elif c.schedule == "rsqrt":
    main = lambda s: lr * jax.lax.rsqrt(jnp.maximum(s, 1.0) / max(warm, 1))
  else:
    raise ValueError(f"optimizer.schedule={c.schedule!r}: use constant, cosine, linear or rsqrt")
  if warm:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), main], [warm])
  return main


def _lr_multiplier(multipliers):
  """Scales updates of params whose path matches a regex (e.g. StyleGAN2's mapping lr 0.01)."""
  rules = [(re.compile(rx), float(m)) for rx, m in multipliers]

  def scale_for(path):
    name = path_str(path)
    for rx, m in rules:
      if rx.fullmatch(name):
        return m
    return 1.0

  def update_fn(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(lambda p, u: u * scale_for(p), updates), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)


def make_optimizer(c: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  """The optimizer named by config c (an `optimizer_config()`)."""
  schedule = make_schedule(c, total_steps)
  wd_mask = (lambda params: regex_mask(params, c.wd_mask)) if c.weight_decay else None
  if c.name == "adamw":
    opt = optax.adamw(schedule, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay,
                      mask=wd_mask)
  elif c.name == "adam":
    opt = optax.adam(schedule, b1=c.b1, b2=c.b2, eps=c.eps)
  elif c.name == "lamb":
    opt = optax.lamb(schedule, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay,
                     mask=wd_mask)
  elif c.name == "sgd":
    opt = optax.sgd(schedule, momentum=c.momentum or None)
    if c.weight_decay:
      opt = optax.chain(optax.add_decayed_weights(c.weight_decay, wd_mask), opt)
  else:
    raise ValueError(f"optimizer.name={c.name!r}: use adamw, adam, lamb or sgd")
  parts = []
  if c.clip_norm:
    parts.append(optax.clip_by_global_norm(c.clip_norm))
  parts.append(opt)
  if c.lr_multipliers:
    parts.append(_lr_multiplier(c.lr_multipliers))
  return optax.chain(*parts) if len(parts) > 1 else opt
