"""Evaluators for generators: conditional accuracy, FID, KID, precision/recall and
density/coverage, on the features of a pluggable extractor (config.eval.extractor).

Every result records the protocol (Lucic et al. 2018; Kynkaanniemi et al. 2023): extractor
name and weights hash, number of samples, reference set, resize, seed.
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np

from lib import data as data_lib
from lib.metrics import kid as kid_lib
from lib.metrics import precision_recall as pr_lib
from lib.metrics.extractor import compute_features, signed_to_unit
from lib.metrics.frechet import frechet_distance_from_features
from lib.train.evaluators import EvalContext, register


def load_extractor(spec: str):
  """'vit_digits' (a domain classifier of lib/metrics/weights) or 'inception:/path.npz'."""
  if spec.startswith("inception:"):
    from lib.metrics.inception import load_inception
    return load_inception(spec.split(":", 1)[1])
  from lib.metrics import domain_classifier
  return domain_classifier.load(spec)


def reference_images(config, n: int, batch: int) -> np.ndarray:
  """n images of config.eval.reference_split in [0, 1], in a fixed shuffled order."""
  it = data_lib.make_iterator(config.data, config.eval.reference_split, global_batch_size=batch,
                              seed=config.seed + 1, shuffle=True, augment=False)
  return np.concatenate([signed_to_unit(next(it)["image"]) for _ in range(-(-n // batch))])[:n]


def generated_features(sample_fn, extractor, n: int, batch: int, num_classes: int, rng):
  """(features, logits or None, labels or None) of n samples of `sample_fn(rng, labels)`, which
  returns `batch` images in [-1, 1]; labels cycle through the classes when conditional."""
  feats, logits, labels = [], [], []
  for i in range(-(-n // batch)):
    lab = None
    if num_classes:
      lab = ((np.arange(batch) + i * batch) % num_classes).astype(np.int32)
      labels.append(lab)
    images = signed_to_unit(jax.device_get(sample_fn(jax.random.fold_in(rng, i), lab)))
    feats.append(np.asarray(extractor.features(images)))
    if extractor.logits_fn is not None:
      logits.append(np.asarray(extractor.logits(images)))
  return (np.concatenate(feats)[:n].astype(np.float64),
          np.concatenate(logits)[:n] if logits else None,
          np.concatenate(labels)[:n] if labels else None)


class _Shared:
  """Per-run cache: the extractor, the reference features, and the samples of one step."""

  def __init__(self, ctx: EvalContext):
    self.ctx = ctx
    c = ctx.config
    self.extractor = load_extractor(c.eval.extractor)
    self.num_classes = (ctx.task.num_conditional_classes(c)
                        if hasattr(ctx.task, "num_conditional_classes") else 0)
    self.batch = min(250, c.eval.metric_samples)
    self._sample = jax.jit(lambda s, r, l: ctx.task.sample(c, s, r, self.batch, l))
    self._ref = None
    self._step_cache: tuple[int, np.ndarray, np.ndarray] | None = None

  def protocol(self) -> dict:
    c = self.ctx.config
    return {"extractor": self.extractor.name, "extractor_sha256": self.extractor.sha256,
            "num_samples": int(c.eval.metric_samples),
            "reference": f"{c.data.source}:{c.data.get('name') or ''}:{c.eval.reference_split}",
            "resize": str(self.extractor.input_size), "seed": int(c.seed)}

  def reference_features(self) -> np.ndarray:
    if self._ref is not None:
      return self._ref
    c, p = self.ctx.config, self.protocol()
    path = os.path.join(self.ctx.workdir, "reference",
                        f"{p['extractor']}_{p['extractor_sha256'][:12]}_{c.data.source}_"
                        f"{c.eval.reference_split}_{p['num_samples']}.npz")
    if os.path.exists(path):
      with np.load(path) as z:
        self._ref = z["features"]
      return self._ref
    images = reference_images(c, p["num_samples"], self.batch)
    self._ref = np.asarray(compute_features(self.extractor, images), np.float64)
    if self.ctx.is_main:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      np.savez(path, features=self._ref, **{k: str(v) for k, v in p.items()})
    return self._ref

  def samples(self, state, step: int):
    """(features, logits or None, labels) of metric_samples generated with fixed noise."""
    if self._step_cache is not None and self._step_cache[0] == step:
      return self._step_cache[1:]
    c = self.ctx.config
    out = generated_features(functools.partial(self._sample, state), self.extractor,
                             c.eval.metric_samples, self.batch, self.num_classes,
                             jax.random.key(c.seed + 12345))
    self._step_cache = (step, *out)
    return out


_SHARED: dict[tuple, _Shared] = {}


def shared(ctx: EvalContext) -> _Shared:
  """One _Shared per (task, workdir), so fid, kid and pr reuse one set of samples."""
  key = (id(ctx.task), ctx.workdir, id(ctx.config))
  if key not in _SHARED:
    _SHARED[key] = _Shared(ctx)
  return _SHARED[key]


def _with_protocol(sh: _Shared, final: bool, metrics: dict) -> dict:
  if final:
    metrics.update({f"protocol/{k}": v for k, v in sh.protocol().items()})
  return metrics


@register("conditional_accuracy")
def conditional_accuracy_evaluator(ctx: EvalContext):
  """Fraction of class-conditional samples the domain classifier assigns to their label."""
  sh = shared(ctx)
  if not sh.num_classes:
    raise ValueError("conditional_accuracy needs a class-conditional task "
                     "(config.gan.conditioning != 'none')")

  def run(state, step, final):
    _, logits, labels = sh.samples(state, step)
    acc = float(np.mean(np.argmax(logits, -1) == labels))
    return _with_protocol(sh, final, {"conditional_accuracy": acc})
  return run


@register("fid")
def fid_evaluator(ctx: EvalContext):
  sh = shared(ctx)

  def run(state, step, final):
    feats, _, _ = sh.samples(state, step)
    fid = frechet_distance_from_features(feats, sh.reference_features())
    return _with_protocol(sh, final, {"fid": float(fid)})
  return run


@register("kid")
def kid_evaluator(ctx: EvalContext):
  sh = shared(ctx)

  def run(state, step, final):
    feats, _, _ = sh.samples(state, step)
    ref = sh.reference_features()
    size = min(ctx.config.eval.kid_subset_size, len(feats), len(ref))
    mean, std = kid_lib.kernel_inception_distance(feats, ref, subset_size=size,
                                                  num_subsets=50, seed=ctx.config.seed)
    return _with_protocol(sh, final, {"kid": float(mean), "kid_std": float(std)})
  return run


@register("pr")
def precision_recall_evaluator(ctx: EvalContext):
  """Improved precision/recall (k=3) and density/coverage (k=5)."""
  sh = shared(ctx)

  def run(state, step, final):
    feats, _, _ = sh.samples(state, step)
    m = pr_lib.manifold_metrics(sh.reference_features().astype(np.float32),
                                feats.astype(np.float32))
    return _with_protocol(sh, final, {k: float(v) for k, v in m.items()})
  return run
