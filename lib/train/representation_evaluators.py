"""Evaluators for self-supervised representation tasks (MAE and the like).

- `linear_probe`: features of the frozen encoder (`task.features(config, state, images)` ->
  [B, d]) on the whole train and eval splits, a multinomial logistic regression fitted on the
  train features (lib/analysis/probes.linear_probe: full-batch Adam, L2, standardised
  features), accuracy on the eval split. It also probes, once per run, the same architecture
  at its random init (the run's own init rng), the baseline a pre-training has to beat:
  `linear_probe_accuracy` vs `linear_probe_random_init_accuracy`.
- `fine_tune`: the encoder and a new linear head trained end to end for a short budget;
  accuracy on the eval split (the run's state is left as it is).
- `mae_reconstructions`: a PNG grid of eval images, three columns per row: input | masked
  input | reconstruction (`task.reconstruct(config, state, images, rng)`, fixed masking noise).
Config keys: `probe.{pool, steps, learning_rate, l2}` (read by the task and here).
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.analysis.probes import linear_probe
from lib.errors import ConfigError
from lib.train import sharding as sh
from lib.train.evaluators import EvalContext, eval_batches, register
from lib.train.image_grid import save_grid

MAX_GRID_ROWS = 16


def _require(ctx: EvalContext, hook: str, evaluator: str):
  if not hasattr(ctx.task, hook):
    raise ConfigError(f"config.eval.evaluators has {evaluator!r}, which needs a task with "
                      f"`{hook}` (e.g. research.mae.task); config.task={ctx.config.task!r} "
                      f"has none: drop {evaluator!r} or change the task")


def split_features(ctx: EvalContext, features_fn, state, split: str):
  """(features [n, d], labels [n]) of every example of `split`, padding dropped."""
  feats, labels = [], []
  for batch in eval_batches(ctx, split=split):
    valid = np.asarray(jax.device_get(batch["valid"]))
    f = np.asarray(jax.device_get(features_fn(state, batch["image"])))
    feats.append(f[valid])
    labels.append(np.asarray(jax.device_get(batch["label"]))[valid])
  return np.concatenate(feats), np.concatenate(labels)


@register("linear_probe")
def linear_probe_evaluator(ctx: EvalContext):
  _require(ctx, "features", "linear_probe")
  c = ctx.config
  features_fn = jax.jit(functools.partial(ctx.task.features, c),
                        in_shardings=(ctx.state_shardings, sh.batch_sharding(ctx.mesh)))
  kwargs = dict(steps=int(c.probe.steps), learning_rate=float(c.probe.learning_rate),
                l2=float(c.probe.l2), seed=int(c.seed))
  baseline: dict = {}

  def probe(state) -> dict:
    train_x, train_y = split_features(ctx, features_fn, state, c.data.train_split)
    test_x, test_y = split_features(ctx, features_fn, state, c.data.eval_split)
    return linear_probe(train_x, train_y, test_x, test_y, **kwargs)

  def random_init_accuracy() -> float:
    if not baseline:
      example = next(eval_batches(ctx))
      example = {k: v for k, v in example.items() if k != "valid"}
      init_rng = jax.random.split(jax.random.key(c.seed))[0]   # the loop's init rng
      init = jax.jit(functools.partial(ctx.task.init, c), out_shardings=ctx.state_shardings)
      baseline["accuracy"] = probe(init(init_rng, example))["accuracy"]
    return baseline["accuracy"]

  def run(state, step, final):
    out = probe(state)
    return {"linear_probe_accuracy": out["accuracy"],
            "linear_probe_train_accuracy": out["train_accuracy"],
            "linear_probe_random_init_accuracy": random_init_accuracy()}

  return run


@register("mae_reconstructions")
def reconstructions_evaluator(ctx: EvalContext):
  _require(ctx, "reconstruct", "mae_reconstructions")
  c = ctx.config
  out_dir = os.path.join(ctx.workdir, "samples")
  rng = jax.random.fold_in(jax.random.key(c.seed), 7919)   # the same masks at every evaluation
  reconstruct = jax.jit(lambda s, x: ctx.task.reconstruct(c, s, x, rng))

  def run(state, step, final):
    batch = next(eval_batches(ctx, min(c.eval.num_samples, MAX_GRID_ROWS)))
    valid = np.asarray(jax.device_get(batch["valid"]))
    masked, recon = reconstruct(state, batch["image"])
    rows = [np.asarray(jax.device_get(a))[valid] for a in (batch["image"], masked, recon)]
    grid = np.stack(rows, axis=1).reshape((-1,) + rows[0].shape[1:])   # input|masked|recon
    if ctx.is_main:
      os.makedirs(out_dir, exist_ok=True)
      save_grid(os.path.join(out_dir, f"reconstructions_{step:07d}.png"), grid, 3)
      if final:
        save_grid(os.path.join(out_dir, "final.png"), grid, 3)
    return {}

  return run


@register("fine_tune")
def fine_tune_evaluator(ctx: EvalContext):
  """End-to-end fine-tuning of the encoder under `task.features` plus a new linear head, on
  the train split, scored on the eval split: `fine_tune_accuracy`. The recipe follows MAE's
  fine-tuning (AdamW, weight decay 0.05, label smoothing 0.1, cosine decay after a warm-up)
  without its layer-wise lr decay, drop path and mixup/cutmix (a short CPU-scale budget:
  `fine_tune.{steps, batch_size, learning_rate, weight_decay, label_smoothing}`). The run's
  own state is not changed: the tuned copy lives only inside this evaluator."""
  _require(ctx, "features", "fine_tune")
  c = ctx.config
  f = c.fine_tune
  steps, batch_size = int(f.steps), int(f.batch_size)
  tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, float(f.learning_rate),
                                                      max(1, steps // 10), steps),
                   b1=0.9, b2=0.999, weight_decay=float(f.weight_decay))

  def encoder_state(state, params):
    fields = {"params": params}
    if getattr(state, "ema_params", None) is not None:
      fields["ema_params"] = None   # features() reads the EMA params when kept
    return state.replace(**fields)

  def logits_of(state, tuned, images):
    z = ctx.task.features(c, encoder_state(state, tuned["encoder"]), images)
    return z @ tuned["head"]["kernel"] + tuned["head"]["bias"]

  def loss_fn(tuned, state, images, labels, valid):
    logits = logits_of(state, tuned, images)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]),
                                  float(f.label_smoothing))
    per = optax.softmax_cross_entropy(logits, targets)
    return jnp.sum(per * valid) / jnp.maximum(jnp.sum(valid), 1.0)

  @jax.jit
  def update(tuned, opt_state, state, images, labels, valid):
    loss, grads = jax.value_and_grad(loss_fn)(tuned, state, images, labels, valid)
    updates, opt_state = tx.update(grads, opt_state, tuned)
    return optax.apply_updates(tuned, updates), opt_state, loss

  @jax.jit
  def correct(tuned, state, images, labels, valid):
    return jnp.sum((jnp.argmax(logits_of(state, tuned, images), -1) == labels) * valid)

  def train_batches():
    while True:                                   # epochs of the train split, in order
      yield from eval_batches(ctx, batch_size, split=c.data.train_split)

  def run(state, step, final):
    first = next(eval_batches(ctx, batch_size, split=c.data.train_split))
    base = state.ema_params if getattr(state, "ema_params", None) is not None else state.params
    dim = jax.eval_shape(lambda: ctx.task.features(c, state, first["image"])).shape[-1]
    num_classes = int(c.fine_tune.num_classes)
    tuned = {"encoder": base, "head": {"kernel": jnp.zeros((dim, num_classes)),
                                       "bias": jnp.zeros((num_classes,))}}
    opt_state = tx.init(tuned)
    batches = train_batches()
    for _ in range(steps):
      b = next(batches)
      tuned, opt_state, loss = update(tuned, opt_state, state, b["image"], b["label"],
                                      jnp.asarray(b["valid"], jnp.float32))
    right = total = 0
    for b in eval_batches(ctx, batch_size):
      valid = jnp.asarray(b["valid"], jnp.float32)
      right += float(correct(tuned, state, b["image"], b["label"], valid))
      total += float(jnp.sum(valid))
    return {"fine_tune_accuracy": right / max(total, 1.0), "fine_tune_loss": float(loss)}

  return run
