"""Evaluators run by the loop every `config.eval.every_steps` and at the end.

An evaluator is a callable `(state, step, final) -> dict of metrics` built from an EvalContext.
`config.eval.evaluators` names them; new ones register with `@register(name)`. The final
call's metrics become results.json.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lib import data as data_lib
from lib.train import sharding as sh
from lib.train.image_grid import save_grid


@dataclasses.dataclass
class EvalContext:
  config: ml_collections.ConfigDict
  task: Any
  mesh: Any
  state_shardings: Any
  workdir: str

  @property
  def is_main(self) -> bool:
    return jax.process_index() == 0


_REGISTRY: dict[str, Callable[[EvalContext], Callable]] = {}


def register(name: str):
  def wrap(factory):
    _REGISTRY[name] = factory
    return factory
  return wrap


def registered_names() -> list[str]:
  return sorted(_REGISTRY)


def evaluator_factory(name: str) -> Callable[[EvalContext], Callable]:
  if name not in _REGISTRY:
    raise ValueError(f"config.eval.evaluators names {name!r}; known: {sorted(_REGISTRY)}")
  return _REGISTRY[name]


def make_evaluators(config, task, mesh, state_shardings, workdir) -> list[tuple[str, Callable]]:
  ctx = EvalContext(config, task, mesh, state_shardings, workdir)
  out = []
  for name in config.eval.evaluators:
    out.append((name, evaluator_factory(name)(ctx)))
  return out


def run_all(evaluators, state, step: int, final: bool) -> dict:
  metrics = {}
  for _, fn in evaluators:
    metrics.update(fn(state, step, final))
  return metrics


def eval_batches(ctx: EvalContext, batch_size: int | None = None, split: str | None = None):
  """The whole eval split (or `split`) once, as global sharded batches padded to a fixed size,
  each with a 'valid' mask (padding keeps one compiled shape)."""
  c = ctx.config
  bs = batch_size or c.eval.batch_size
  n_shards = ctx.mesh.shape["data"] * ctx.mesh.shape["fsdp"]
  bs = max(n_shards, bs - bs % n_shards)
  it = data_lib.make_iterator(c.data, split or c.data.eval_split, global_batch_size=bs, seed=c.seed,
                              shuffle=False, augment=False, num_epochs=1,
                              process_index=jax.process_index(),
                              process_count=jax.process_count(), drop_remainder=False)
  local = bs // jax.process_count()
  for batch in it:
    batch = dict(batch)
    n = len(next(iter(batch.values())))
    valid = np.asarray(batch.pop("valid", np.ones(n, bool)), bool)
    if n < local:
      batch = {k: np.concatenate([v, np.zeros((local - n,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
      valid = np.concatenate([valid, np.zeros(local - n, bool)])
    batch["valid"] = valid
    yield sh.global_batch(batch, ctx.mesh)


@register("accuracy")
def accuracy_evaluator(ctx: EvalContext):
  """Top-1 accuracy of `task.predict` over the whole eval split."""
  predict = jax.jit(functools.partial(ctx.task.predict, ctx.config),
                    in_shardings=(ctx.state_shardings, sh.batch_sharding(ctx.mesh)))

  def run(state, step, final):
    correct = total = 0
    for batch in eval_batches(ctx):
      logits = predict(state, {k: v for k, v in batch.items() if k != "valid"})
      hit = (jnp.argmax(logits, -1) == batch["label"]) & batch["valid"]
      correct += int(jax.device_get(hit.sum()))
      total += int(jax.device_get(batch["valid"].sum()))
    return {"accuracy": correct / max(total, 1), "eval_examples": total}

  return run


@register("samples")
def samples_evaluator(ctx: EvalContext):
  """A PNG grid: generated samples with fixed noise (one row per class when conditional), or,
  for predictive tasks, eval images with their predicted and true labels."""
  c, task = ctx.config, ctx.task
  out_dir = os.path.join(ctx.workdir, "samples")
  rng = jax.random.fold_in(jax.random.key(c.seed), 7919)  # fixed noise across evaluations

  if hasattr(task, "sample"):
    num_classes = task.num_conditional_classes(c) if hasattr(task, "num_conditional_classes") else 0
    if num_classes:
      per_class = max(1, c.eval.num_samples // num_classes)
      labels = np.repeat(np.arange(num_classes), per_class).astype(np.int32)
      n, ncol = len(labels), per_class
    else:
      labels, n = None, c.eval.num_samples
      ncol = None
    sample = jax.jit(lambda s, r, l: task.sample(c, s, r, n, l))

    def run(state, step, final):
      images = np.asarray(jax.device_get(sample(state, rng, labels)))
      if ctx.is_main:
        os.makedirs(out_dir, exist_ok=True)
        save_grid(os.path.join(out_dir, f"samples_{step:07d}.png"), images, ncol)
        if final:
          save_grid(os.path.join(out_dir, "final.png"), images, ncol)
      return {}
    return run

  predict = jax.jit(functools.partial(task.predict, c))

  def run_predictions(state, step, final):
    batch = next(eval_batches(ctx, c.eval.num_samples))
    valid = np.asarray(batch.pop("valid"))
    pred = np.asarray(jax.device_get(jnp.argmax(predict(state, batch), -1)))[valid]
    images = np.asarray(jax.device_get(batch["image"]))[valid]
    if ctx.is_main:
      os.makedirs(out_dir, exist_ok=True)
      save_grid(os.path.join(out_dir, f"predictions_{step:07d}.png"), images)
      with open(os.path.join(out_dir, f"predictions_{step:07d}.json"), "w") as f:
        json.dump({"predicted": pred.tolist(),
                   "true": np.asarray(jax.device_get(batch["label"]))[valid].tolist()}, f)
    return {}

  return run_predictions
