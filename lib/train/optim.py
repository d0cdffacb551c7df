"""Optax optimizers from `config.optimizer`: schedule, clipping, weight-decay mask, lr multipliers."""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib.train.param_paths import path_str, regex_mask


def _decay_steps(c, total_steps: int) -> int:
  return int(c.get("decay_steps", 0)) or max(total_steps - c.warmup_steps, 1)


def make_schedule(c: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
  """lr at each update: linear warm-up over `warmup_steps`, then the schedule, which reaches
  `lr_final` after `decay_steps` (0: the rest of the run) and holds it."""
  lr, warm = c.learning_rate, c.warmup_steps
  decay_steps, lr_final = _decay_steps(c, total_steps), float(c.get("lr_final", 0.0))
  if c.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif c.schedule == "cosine":   # lr_final + (lr - lr_final)(1 + cos(pi t / T)) / 2
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=lr_final / lr if lr else 0.0)
  elif c.schedule == "linear":
    main = optax.linear_schedule(lr, lr_final, decay_steps)
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


def _b2_schedule(c, total_steps: int) -> optax.Schedule:
  """R3GAN's beta2 ramp: b2 during warm-up, then the official cosine from b2 to b2_final over
  decay_steps (b2 + (1 - (1 + cos(pi t / T)) / 2)(b2_final - b2)), then b2_final."""
  warm, steps = c.warmup_steps, _decay_steps(c, total_steps)

  def b2_at(count):
    t = jnp.clip(jnp.asarray(count, jnp.float32) - warm, 0.0, steps)
    return c.b2 + (1.0 - 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))) * (c.b2_final - c.b2)

  return b2_at


def _adam_family(make, b2):
  """make itself, or, when b2 is a schedule, make with its hyperparameters injected (optax
  evaluates the schedules at the update count; Adam's bias correction uses the current b2,
  as torch.optim.Adam does when the betas of a param group change)."""
  if not callable(b2):
    return make
  static = ("mask",) if make in (optax.adamw, optax.lamb) else ()   # a callable, not a schedule
  return optax.inject_hyperparams(make, static_args=static)


def make_optimizer(c: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
  """The optimizer named by config c (an `optimizer_config()`)."""
  schedule = make_schedule(c, total_steps)
  wd_mask = (lambda params: regex_mask(params, c.wd_mask)) if c.weight_decay else None
  b2 = c.b2
  if c.get("b2_final", 0.0):
    if c.name not in ("adamw", "adam", "lamb"):
      raise ValueError(f"optimizer.b2_final={c.b2_final} needs an Adam-family optimizer, not "
                       f"optimizer.name={c.name!r}")
    b2 = _b2_schedule(c, total_steps)
  if c.name == "adamw":
    opt = _adam_family(optax.adamw, b2)(schedule, b1=c.b1, b2=b2, eps=c.eps,
                                        weight_decay=c.weight_decay, mask=wd_mask)
  elif c.name == "adam":
    opt = _adam_family(optax.adam, b2)(schedule, b1=c.b1, b2=b2, eps=c.eps)
  elif c.name == "lamb":
    opt = _adam_family(optax.lamb, b2)(schedule, b1=c.b1, b2=b2, eps=c.eps,
                                       weight_decay=c.weight_decay, mask=wd_mask)
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
