"""Evaluators of image-to-image translation (lib/tasks/translation.py), over the whole eval
split translated once per evaluation (shared by all of them):

- `translation_grid`: PNG rows input | translation | cycle reconstruction (two-way runs) or
  the true target (paired data), 8 examples per row (samples/translations_<step>.png,
  final.png); two-way runs also report `cycle_l1` (mean |F(G(a)) - a| over the eval split).
- `translation_fid`: domain FID (features of config.eval.extractor, a project classifier) of
  the A -> B translations of the eval split against the B images of eval.reference_split
  (`fid_ab`), of B -> A against A (`fid_ba`, two-way), and of the untranslated inputs
  against B (`fid_input_ab`: the score of doing nothing).
- `label_preservation`: a classifier of the target domain on the translations against the
  source label (`label_preservation_ab`, `_ba`), beside the same classifier's accuracy on the
  real images of its domain (`classifier_acc_a`, `classifier_acc_b`: the ceiling of a perfect
  translation). Domain A's images are read by `eval.label_classifier_a`, B's by
  `eval.label_classifier_b` (each '' = `eval.extractor`), so that each classifier reads its
  own domain's real images well (digits: vit_digits for thin, vit_digits_thick for thick).
- `paired_metrics` (paired data): `l1`, `psnr` (R = 2), `ssim` of G(A) against the true B;
- `cam_heatmaps` (generators returning a 'heatmap', U-GAT-IT): PNG rows input | heatmap;
  `cam_object_fraction` = share of the (ReLU'd, upsampled) heat inside the inputs'
  foreground masks, beside `foreground_fraction` (the share for a uniform map).
"""
from __future__ import annotations

import functools
import os

import jax
import numpy as np

from lib.errors import ConfigError
from lib.metrics.extractor import compute_features, signed_to_unit
from lib.metrics.frechet import frechet_distance_from_features
from lib.metrics.ssim import ssim
from lib.train.evaluators import EvalContext, eval_batches, register
from lib.train.generator_evaluators import load_extractor
from lib.train.image_grid import save_grid
from lib.train.reconstruction_evaluators import psnr

GRID_COLUMNS = 8


def _require(ctx: EvalContext, name: str):
  if not hasattr(ctx.task, "translate"):
    raise ConfigError(f"config.eval.evaluators has {name!r}, which needs a translation task "
                      f"(lib.tasks.translation); config.task={ctx.config.task!r} is not one")


class _Translations:
  """The eval split translated at one step: arrays of A, B, G(A), (F(B), F(G(A))), labels."""

  def __init__(self, ctx: EvalContext):
    self.ctx, c = ctx, ctx.config
    self.two_way = ctx.task.two_way(c)
    self._ab = jax.jit(functools.partial(ctx.task.translate, c, direction="ab"))
    self._ba = jax.jit(functools.partial(ctx.task.translate, c, direction="ba"))
    self._cache = None
    self._extractor = None
    self._classifiers = {}
    self._ref = None

  def at(self, state, step: int) -> dict:
    if self._cache is not None and self._cache[0] == step:
      return self._cache[1]
    out = {k: [] for k in ("a", "b", "fake_b", "rec_a", "fake_a", "label", "target_label",
                           "foreground", "heatmap")}
    for batch in eval_batches(self.ctx):
      valid = np.asarray(jax.device_get(batch["valid"]))
      get = lambda v: np.asarray(jax.device_get(v))[valid]
      fake_b, aux = self._ab(state, batch["image"])
      for k, v in (("a", batch["image"]), ("b", batch["target"]), ("fake_b", fake_b),
                   ("label", batch["label"]), ("target_label", batch["target_label"]),
                   ("foreground", batch["foreground"])):
        out[k].append(get(v))
      if "heatmap" in aux:
        out["heatmap"].append(get(aux["heatmap"]))
      if self.two_way:
        out["rec_a"].append(get(self._ba(state, fake_b)[0]))
        out["fake_a"].append(get(self._ba(state, batch["target"])[0]))
    self._cache = (step, {k: np.concatenate(v) if v else None for k, v in out.items()})
    return self._cache[1]

  def extractor(self):
    if self._extractor is None:
      self._extractor = load_extractor(self.ctx.config.eval.extractor)
    return self._extractor

  def classifier(self, domain: str):
    """The label classifier of domain 'a' or 'b' (eval.label_classifier_<domain>, else the
    FID extractor)."""
    if domain not in self._classifiers:
      spec = self.ctx.config.eval.get(f"label_classifier_{domain}", "") or ""
      self._classifiers[domain] = load_extractor(spec) if spec else self.extractor()
    return self._classifiers[domain]

  def reference_features(self) -> dict:
    """Features of the A and the B images of eval.reference_split (computed once)."""
    if self._ref is None:
      c = self.ctx.config
      a, b = [], []
      for batch in eval_batches(self.ctx, split=c.eval.reference_split):
        valid = np.asarray(jax.device_get(batch["valid"]))
        a.append(np.asarray(jax.device_get(batch["image"]))[valid])
        b.append(np.asarray(jax.device_get(batch["target"]))[valid])
      ext = self.extractor()
      self._ref = {k: np.asarray(compute_features(ext, signed_to_unit(np.concatenate(v))),
                                 np.float64) for k, v in (("a", a), ("b", b))}
    return self._ref


_SHARED: dict[tuple, _Translations] = {}


def shared(ctx: EvalContext) -> _Translations:
  key = (id(ctx.task), ctx.workdir, id(ctx.config))
  if key not in _SHARED:
    _SHARED[key] = _Translations(ctx)
  return _SHARED[key]


def _save(ctx, stem: str, step: int, final: bool, grid):
  if not ctx.is_main:
    return
  out_dir = os.path.join(ctx.workdir, "samples")
  os.makedirs(out_dir, exist_ok=True)
  save_grid(os.path.join(out_dir, f"{stem}_{step:07d}.png"), grid, GRID_COLUMNS)
  if final:
    save_grid(os.path.join(out_dir, "final.png" if stem == "translations" else
                           f"{stem}_final.png"), grid, GRID_COLUMNS)


@register("translation_grid")
def translation_grid_evaluator(ctx: EvalContext):
  _require(ctx, "translation_grid")
  sh = shared(ctx)
  paired = bool(ctx.config.data.get("paired", False))

  def run(state, step, final):
    tr = sh.at(state, step)
    n = min(GRID_COLUMNS, len(tr["a"]))
    rows = [tr["a"][:n], tr["fake_b"][:n]]
    if sh.two_way:
      rows.append(tr["rec_a"][:n])
    elif paired:
      rows.append(tr["b"][:n])
    _save(ctx, "translations", step, final, np.concatenate(rows))
    if sh.two_way:     # mean |F(G(a)) - a| over the eval split
      return {"cycle_l1": float(np.abs(tr["rec_a"] - tr["a"]).mean())}
    return {}
  return run


def _features(sh, images):
  return np.asarray(compute_features(sh.extractor(), signed_to_unit(images)), np.float64)


@register("translation_fid")
def translation_fid_evaluator(ctx: EvalContext):
  _require(ctx, "translation_fid")
  sh = shared(ctx)

  def run(state, step, final):
    tr, ref = sh.at(state, step), sh.reference_features()
    out = {"fid_ab": float(frechet_distance_from_features(_features(sh, tr["fake_b"]), ref["b"])),
           "fid_input_ab": float(frechet_distance_from_features(_features(sh, tr["a"]),
                                                                ref["b"]))}
    if sh.two_way:
      out["fid_ba"] = float(frechet_distance_from_features(_features(sh, tr["fake_a"]),
                                                           ref["a"]))
    if final:
      out["protocol/extractor"] = sh.extractor().name
      out["protocol/reference"] = f"{ctx.config.data.pair}:{ctx.config.eval.reference_split}"
    return out
  return run


def _accuracy(classifier, images, labels):
  logits = compute_features(classifier, signed_to_unit(images), kind="logits")
  return float(np.mean(np.argmax(logits, -1) == labels))


@register("label_preservation")
def label_preservation_evaluator(ctx: EvalContext):
  _require(ctx, "label_preservation")
  sh = shared(ctx)

  def run(state, step, final):
    tr = sh.at(state, step)
    cls_a, cls_b = sh.classifier("a"), sh.classifier("b")
    if cls_a.logits_fn is None or cls_b.logits_fn is None or tr["label"].min() < 0:
      raise ConfigError("label_preservation needs labelled data (digits or shapes pairs) and "
                        "classifiers (eval.extractor or eval.label_classifier_a/_b: vit_digits, "
                        "vit_digits_thick, vit_shapes): drop it for folders")
    out = {"label_preservation_ab": _accuracy(cls_b, tr["fake_b"], tr["label"]),   # G(a) as B
           "classifier_acc_a": _accuracy(cls_a, tr["a"], tr["label"]),
           "classifier_acc_b": _accuracy(cls_b, tr["b"], tr["target_label"])}
    if sh.two_way:
      out["label_preservation_ba"] = _accuracy(cls_a, tr["fake_a"], tr["target_label"])
    if final:
      out["protocol/label_classifier_a"] = cls_a.name
      out["protocol/label_classifier_b"] = cls_b.name
    return out
  return run


@register("paired_metrics")
def paired_metrics_evaluator(ctx: EvalContext):
  _require(ctx, "paired_metrics")
  if not ctx.config.data.get("paired", False):
    raise ConfigError("paired_metrics compares with the true target: it needs data.paired=True")
  sh = shared(ctx)

  def run(state, step, final):
    tr = sh.at(state, step)
    x, y = tr["fake_b"].astype(np.float64), tr["b"].astype(np.float64)
    diff = (x - y).reshape(len(x), -1)
    out = {"l1": float(np.abs(diff).mean()), "psnr": float(psnr((diff ** 2).mean(1)).mean()),
           "ssim": float(ssim(x, y).mean())}
    return out
  return run


def heat_inside(heatmap, foreground):
  """Share of relu(heatmap) (nearest-upsampled to the mask size) inside the mask, per image."""
  heat = np.maximum(np.asarray(heatmap, np.float64), 0.0)
  f = foreground.shape[1] // heat.shape[1]
  heat = np.repeat(np.repeat(heat, f, 1), f, 2)
  mask = np.asarray(foreground[..., 0], np.float64)
  total = heat.reshape(len(heat), -1).sum(1)
  return (heat * mask).reshape(len(heat), -1).sum(1) / np.maximum(total, 1e-12)


@register("cam_heatmaps")
def cam_heatmaps_evaluator(ctx: EvalContext):
  _require(ctx, "cam_heatmaps")
  sh = shared(ctx)

  def run(state, step, final):
    tr = sh.at(state, step)
    if tr["heatmap"] is None:
      raise ConfigError("cam_heatmaps needs a generator with a CAM (research.ugatit.model."
                        "Generator): drop it for this config")
    n = min(GRID_COLUMNS, len(tr["a"]))
    heat = tr["heatmap"][:n]
    lo = heat.min(axis=(1, 2), keepdims=True)
    hi = heat.max(axis=(1, 2), keepdims=True)
    heat = (heat - lo) / np.maximum(hi - lo, 1e-12) * 2 - 1
    f = tr["a"].shape[1] // heat.shape[1]
    heat = np.repeat(np.repeat(heat, f, 1), f, 2)[..., None]
    heat = np.repeat(heat, tr["a"].shape[-1], -1)
    _save(ctx, "cam_heatmaps", step, final, np.concatenate([tr["a"][:n], heat]))
    return {"cam_object_fraction": float(heat_inside(tr["heatmap"], tr["foreground"]).mean()),
            "foreground_fraction": float(tr["foreground"].mean())}
  return run
