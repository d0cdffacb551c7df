"""Evaluators of autoencoders / tokenizers (lib/tasks/autoencoder.py):

- `reconstruction`: over the whole eval split, `recon_l1` (mean |x - x_hat|), `recon_l2`
  (mean (x - x_hat)^2), `psnr` (mean over images of 10 log10(R^2 / MSE_image), R = 2 for
  images in [-1, 1]), and the token statistics of all the split's tokens together:
  `eval_codebook_usage` (fraction of the codebook used) and `eval_perplexity`
  (exp of the entropy of the split's code histogram).
- `reconstruction_grid`: a PNG, rows of input | reconstruction pairs (samples/).
- `reconstruction_fid`: rFID, the Frechet distance between the `config.eval.extractor`
  features of the eval split and of its reconstructions (the tokenizer score of VQGAN /
  ViT-VQGAN / MaskGIT's tables, here on domain features: comparable only within this project).
All three need a task with `reconstruct_and_tokens(config, state, images)` and `codebook_size`.
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np

from lib.errors import ConfigError
from lib.train.evaluators import EvalContext, eval_batches, register
from lib.train.image_grid import save_grid

PIXEL_RANGE = 2.0      # images in [-1, 1]
MAX_GRID_IMAGES = 16


def _require(ctx: EvalContext, evaluator: str):
  """The task hooks the reconstruction evaluators call."""
  for hook in ("reconstruct_and_tokens", "codebook_size"):
    if not hasattr(ctx.task, hook):
      raise ConfigError(f"config.eval.evaluators has {evaluator!r}, which needs a task with "
                        f"`{hook}` (lib.tasks.autoencoder); config.task={ctx.config.task!r} "
                        f"has none: drop {evaluator!r} or change the task")


def psnr(mse, pixel_range: float = PIXEL_RANGE):
  """10 log10(R^2 / MSE)."""
  return 10.0 * np.log10(pixel_range ** 2 / np.maximum(mse, 1e-12))


def histogram_metrics(counts):
  """(fraction of codes with count > 0, exp(entropy of the histogram))."""
  p = counts / max(counts.sum(), 1)
  nz = p[p > 0]
  return float(np.mean(counts > 0)), float(np.exp(-np.sum(nz * np.log(nz))))


@register("reconstruction")
def reconstruction_evaluator(ctx: EvalContext):
  _require(ctx, "reconstruction")
  c = ctx.config
  run_model = jax.jit(functools.partial(ctx.task.reconstruct_and_tokens, c))
  num_codes = ctx.task.codebook_size(c)

  def run(state, step, final):
    abs_err, sq_err, psnrs = [], [], []
    counts = np.zeros(num_codes, np.int64)
    for batch in eval_batches(ctx):
      valid = np.asarray(jax.device_get(batch["valid"]))
      recon, tokens = run_model(state, batch["image"])
      x = np.asarray(jax.device_get(batch["image"]), np.float64)[valid]
      x_hat = np.asarray(jax.device_get(recon), np.float64)[valid]
      diff = (x_hat - x).reshape(len(x), -1)
      abs_err.append(np.abs(diff).mean(1))
      mse = (diff ** 2).mean(1)
      sq_err.append(mse)
      psnrs.append(psnr(mse))
      counts += np.bincount(np.asarray(jax.device_get(tokens))[valid].reshape(-1),
                            minlength=num_codes)[:num_codes]
    usage, perplexity = histogram_metrics(counts)
    return {"recon_l1": float(np.concatenate(abs_err).mean()),
            "recon_l2": float(np.concatenate(sq_err).mean()),
            "psnr": float(np.concatenate(psnrs).mean()),
            "eval_codebook_usage": usage, "eval_perplexity": perplexity,
            "eval_examples": int(sum(len(a) for a in abs_err))}

  return run


@register("reconstruction_grid")
def reconstruction_grid_evaluator(ctx: EvalContext):
  _require(ctx, "reconstruction_grid")
  c = ctx.config
  out_dir = os.path.join(ctx.workdir, "samples")
  run_model = jax.jit(functools.partial(ctx.task.reconstruct_and_tokens, c))

  def run(state, step, final):
    n = min(c.eval.num_samples, MAX_GRID_IMAGES)
    batch = next(eval_batches(ctx, n))        # rounded up to a multiple of the data shards
    valid = np.asarray(jax.device_get(batch["valid"]))
    recon, _ = run_model(state, batch["image"])
    x = np.asarray(jax.device_get(batch["image"]))[valid][:n]
    x_hat = np.clip(np.asarray(jax.device_get(recon))[valid][:n], -1.0, 1.0)
    grid = np.concatenate([x, x_hat])            # first row inputs, second reconstructions
    if ctx.is_main:
      os.makedirs(out_dir, exist_ok=True)
      save_grid(os.path.join(out_dir, f"reconstructions_{step:07d}.png"), grid, len(x))
      if final:
        save_grid(os.path.join(out_dir, "final.png"), grid, len(x))
    return {}

  return run


@register("reconstruction_fid")
def reconstruction_fid_evaluator(ctx: EvalContext):
  _require(ctx, "reconstruction_fid")
  from lib.metrics.extractor import signed_to_unit
  from lib.metrics.frechet import frechet_distance_from_features
  from lib.train.generator_evaluators import load_extractor
  c = ctx.config
  extractor = load_extractor(c.eval.extractor)
  run_model = jax.jit(functools.partial(ctx.task.reconstruct_and_tokens, c))

  def run(state, step, final):
    real, recon = [], []
    for batch in eval_batches(ctx):
      valid = np.asarray(jax.device_get(batch["valid"]))
      x_hat, _ = run_model(state, batch["image"])
      x = np.asarray(jax.device_get(batch["image"]))[valid]
      x_hat = np.clip(np.asarray(jax.device_get(x_hat))[valid], -1.0, 1.0)
      real.append(np.asarray(extractor.features(signed_to_unit(x))))
      recon.append(np.asarray(extractor.features(signed_to_unit(x_hat))))
    fid = frechet_distance_from_features(np.concatenate(recon).astype(np.float64),
                                         np.concatenate(real).astype(np.float64))
    out = {"reconstruction_fid": float(fid)}
    if final:
      out.update({"protocol/extractor": extractor.name,
                  "protocol/extractor_sha256": extractor.sha256})
    return out

  return run
