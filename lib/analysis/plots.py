"""Figures for notebooks and reports: each function returns a matplotlib Figure drawn on the
Agg canvas (no pyplot, no global state, nothing shown); `fig.savefig(path)` writes it and a
notebook displays it as the cell's value.

Inputs are what lib.analysis computes: `Run.curves()` / `Run.metrics_frame()`, samples in
[-1, 1], attention weights of one example [heads, T, T] (attention_weights_of(...)[layer, b]),
a rollout [T, T] (attention_rollout), a CKA matrix (cka_matrix), probe accuracies
(probe_layers), residuals per layer (residual_per_layer) and loss_barrier's result.
Vision transformers put `num_prefix` tokens ([class]) before the patches in raster order,
so the patch tokens of a T-token map form a sqrt(T - num_prefix) square grid.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lib.errors import DataError

# Logged every row but not learning curves: left out of curves() unless asked for.
_NOT_CURVES = ("compile/", "perf/", "steps_per_sec", "time")


def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (3.2, 3.0), **kw):
  fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
  FigureCanvasAgg(fig)
  axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
  return fig, axes


def _to_display(image) -> tuple[np.ndarray, str | None]:
  """[H, W, C] in [-1, 1] -> [H, W] (grey, with its colormap) or [H, W, 3] in [0, 1]."""
  x = np.asarray(image, np.float64)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
    raise DataError(f"an image of shape {np.shape(image)} is not [H, W], [H, W, 1] or [H, W, 3]")
  x = np.clip((x + 1.0) / 2.0, 0.0, 1.0)                        # [-1, 1] -> [0, 1]
  return x, ("gray" if x.ndim == 2 else None)


def _patch_grid(row: np.ndarray, num_prefix: int) -> np.ndarray:
  """The patch tokens of one attention row [T] as the [g, g] grid of patches."""
  patches = np.asarray(row, np.float64)[num_prefix:]
  g = math.isqrt(patches.shape[0])
  if g * g != patches.shape[0] or g == 0:
    raise DataError(f"{patches.shape[0]} tokens after the {num_prefix} prefix token(s) do not "
                    "form a square grid of patches; pass the num_prefix of the model (ViT: 1)")
  return patches.reshape(g, g)


def _overlay(ax, image, grid: np.ndarray, alpha: float = 0.6):
  """The image, and over it the patch grid stretched to the image's extent."""
  shown, cmap = _to_display(image)
  h, w = shown.shape[:2]
  ax.imshow(shown, cmap=cmap, vmin=0, vmax=1)
  ax.imshow(grid, cmap="inferno", alpha=alpha, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
            interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])


def _numeric(column) -> np.ndarray | None:
  try:
    return np.asarray(column, np.float64)
  except (TypeError, ValueError):   # a text metric: not a curve
    return None


def curves(columns, keys: Sequence[str] | None = None, logy: Sequence[str] = (),
           ncols: int = 3) -> Figure:
  """One axis per metric over steps. columns: Run.curves() ({'step': [...], name: [...]}) or
  Run.metrics_frame() (indexed by step). keys: the metrics to draw (default: every metric
  with a finite value except compile/*, perf/*, steps_per_sec and time); logy: those drawn on a
  log scale. NaN rows (an evaluator's cadence) are skipped, so sparse metrics draw as lines."""
  if hasattr(columns, "index") and hasattr(columns, "columns"):    # a DataFrame
    table = {"step": list(columns.index), **{k: list(columns[k]) for k in columns.columns}}
  else:
    table = dict(columns)
  if "step" not in table:
    raise DataError("the curves have no 'step' column; pass run.curves() or run.metrics_frame()")
  steps = np.asarray(table["step"], np.float64)
  values = {k: _numeric(v) for k, v in table.items() if k != "step"}
  values = {k: v for k, v in values.items() if v is not None}
  if keys is None:
    keys = [k for k, v in values.items() if not k.startswith(_NOT_CURVES)
            and np.isfinite(v).any()]
  missing = [k for k in keys if k not in values]
  if missing or not keys:
    raise DataError(f"no numeric metric {missing or ''} in the curves; the metrics are "
                    f"{sorted(values)}")
  ncols = min(ncols, len(keys))
  nrows = -(-len(keys) // ncols)
  fig, axes = _figure(nrows, ncols, size=(3.4, 2.6))
  for ax, key in zip(axes.flat, keys):
    ok = np.isfinite(values[key])
    ax.plot(steps[ok], values[key][ok], marker="." if ok.sum() < 20 else None)
    ax.set_title(key, fontsize=9)
    ax.set_xlabel("step")
    if key in logy:
      ax.set_yscale("log")
  for ax in axes.flat[len(keys):]:
    fig.delaxes(ax)
  return fig


def sample_grid(images, nrow: int | None = None, row_labels: Sequence | None = None,
                title: str | None = None, pad: int = 1) -> Figure:
  """The images [n, H, W, C] in [-1, 1] tiled into one picture of `nrow` rows (default: a
  near-square grid), row by row; row_labels name the rows (e.g. the class of each row)."""
  x = np.asarray(images, np.float64)
  if x.ndim != 4 or x.shape[-1] not in (1, 3):
    raise DataError(f"samples of shape {x.shape} are not [n, H, W, 1 or 3]")
  n, h, w, c = x.shape
  nrow = nrow or max(1, math.isqrt(n))
  ncol = -(-n // nrow)
  canvas = np.ones((nrow * (h + pad) - pad, ncol * (w + pad) - pad, c))   # white padding
  for i in range(n):
    r, q = divmod(i, ncol)
    canvas[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = x[i]
  fig, axes = _figure(size=(0.45 * ncol + 0.6, 0.45 * nrow + 0.3))
  ax = axes[0, 0]
  shown, cmap = _to_display(canvas)
  ax.imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
  ax.set_xticks([])
  if row_labels is not None:
    ax.set_yticks([r * (h + pad) + h / 2 for r in range(nrow)], [str(l) for l in row_labels])
  else:
    ax.set_yticks([])
  if title:
    ax.set_title(title, fontsize=9)
  return fig


def attention_heads(image, weights, query: int = 0, num_prefix: int = 1,
                    title: str | None = None) -> Figure:
  """Where token `query` (0: [class]) attends, per head, over the image: the image, then one
  axis per head with that head's attention row over the patch grid. weights: one example's
  attention of one layer, [heads, T, T] (attention_weights_of(inter)[layer, b])."""
  w = np.asarray(weights, np.float64)
  if w.ndim != 3 or w.shape[-1] != w.shape[-2]:
    raise DataError(f"attention weights of shape {w.shape} are not one example's [heads, T, T]; "
                    "index the layer and the batch first, e.g. weights[layer, b]")
  fig, axes = _figure(1, 1 + w.shape[0], size=(2.2, 2.4))
  shown, cmap = _to_display(image)
  axes[0, 0].imshow(shown, cmap=cmap, vmin=0, vmax=1)
  axes[0, 0].set_title("image", fontsize=9)
  axes[0, 0].set_xticks([])
  axes[0, 0].set_yticks([])
  for head in range(w.shape[0]):
    ax = axes[0, 1 + head]
    _overlay(ax, image, _patch_grid(w[head, query], num_prefix))
    ax.set_title(f"head {head}", fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  return fig


def rollout_over_image(image, rollout, query: int = 0, num_prefix: int = 1,
                       title: str = "attention rollout") -> Figure:
  """The image and the rollout row of token `query` (0: [class]) over its patch grid;
  rollout: [T, T] of one example (attention_rollout(weights)[b])."""
  r = np.asarray(rollout, np.float64)
  if r.ndim != 2 or r.shape[0] != r.shape[1]:
    raise DataError(f"a rollout of shape {r.shape} is not one example's [T, T]; index the batch")
  fig, axes = _figure(1, 2, size=(2.4, 2.4))
  shown, cmap = _to_display(image)
  axes[0, 0].imshow(shown, cmap=cmap, vmin=0, vmax=1)
  axes[0, 0].set_title("image", fontsize=9)
  axes[0, 0].set_xticks([])
  axes[0, 0].set_yticks([])
  _overlay(axes[0, 1], image, _patch_grid(r[query], num_prefix))
  axes[0, 1].set_title(title, fontsize=9)
  return fig


def cka_heatmap(matrix, labels_a: Sequence[str] | None = None,
                labels_b: Sequence[str] | None = None, title: str = "linear CKA") -> Figure:
  """The [A, B] CKA matrix (cka_matrix) as a heatmap in [0, 1], rows labels_a, columns
  labels_b (default: layer indices), with a colorbar; row 0 at the bottom as in Kornblith
  et al.'s figures."""
  m = np.asarray(matrix, np.float64)
  if m.ndim != 2:
    raise DataError(f"a CKA matrix of shape {m.shape} is not [layers_a, layers_b]")
  fig, axes = _figure(size=(3.8, 3.2))
  ax = axes[0, 0]
  im = ax.imshow(m, origin="lower", vmin=0.0, vmax=1.0, cmap="magma")
  ax.set_xticks(range(m.shape[1]), labels_b if labels_b is not None else range(m.shape[1]),
                rotation=45, fontsize=8)
  ax.set_yticks(range(m.shape[0]), labels_a if labels_a is not None else range(m.shape[0]),
                fontsize=8)
  ax.set_title(title, fontsize=9)
  fig.colorbar(im, ax=ax, shrink=0.8)
  return fig


def probe_accuracy(accuracies, layer_names: Sequence[str] | None = None,
                   chance: float | None = None, title: str = "linear probe") -> Figure:
  """Test accuracy of a linear probe per layer (probe_layers), with the chance level."""
  acc = np.asarray(accuracies, np.float64)
  if acc.ndim != 1:
    raise DataError(f"probe accuracies of shape {acc.shape} are not one value per layer")
  names = list(layer_names) if layer_names is not None else [str(i) for i in range(len(acc))]
  if len(names) != len(acc):
    raise DataError(f"{len(names)} layer names for {len(acc)} accuracies; pass one per layer")
  fig, axes = _figure(size=(4.0, 2.8))
  ax = axes[0, 0]
  ax.plot(range(len(acc)), acc, marker="o", label="probe")
  if chance is not None:
    ax.axhline(chance, color="gray", linestyle="--", label="chance")
  ax.set_xticks(range(len(acc)), names, rotation=45, fontsize=8)
  ax.set_ylim(0.0, 1.02)
  ax.set_ylabel("test accuracy")
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=8)
  return fig


def residual_curves(residuals: Mapping[str, Sequence], title: str = "rank collapse",
                    ylabel: str = "||res(X)|| / ||X||") -> Figure:
  """Relative residual per layer (residual_per_layer) of each named network on a log scale:
  {label: [depth + 1] (or [depth + 1, runs]: the mean is drawn, min-max shaded)}."""
  fig, axes = _figure(size=(4.4, 3.2))
  ax = axes[0, 0]
  for label, r in residuals.items():
    r = np.asarray(r, np.float64)
    r = r[:, None] if r.ndim == 1 else r.reshape(r.shape[0], -1)
    layers = np.arange(r.shape[0])
    floor = np.finfo(np.float64).tiny                          # log scale: no zeros
    ax.plot(layers, np.maximum(r.mean(1), floor), marker=".", label=label)
    if r.shape[1] > 1:
      ax.fill_between(layers, np.maximum(r.min(1), floor), np.maximum(r.max(1), floor), alpha=0.2)
  ax.set_yscale("log")
  ax.set_xlabel("layer")
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=8)
  return fig


def barrier_curve(results: Mapping[str, Mapping] | Mapping, title: str = "linear path") -> Figure:
  """Loss along (1 - lam) theta_A + lam theta_B: loss_barrier's result, or {label: result}
  (e.g. naive vs weight-matched), each with its barrier in the legend and the chord dashed."""
  if "lambdas" in results:
    results = {"": results}
  fig, axes = _figure(size=(4.4, 3.2))
  ax = axes[0, 0]
  for label, r in results.items():
    lam, losses = np.asarray(r["lambdas"]), np.asarray(r["losses"])
    line, = ax.plot(lam, losses, marker=".",
                    label=f"{label} (barrier {r['barrier']:.3g})".strip())
    ax.plot([lam[0], lam[-1]], [losses[0], losses[-1]], linestyle="--", color=line.get_color(),
            linewidth=0.8)
  ax.set_xlabel("lambda")
  ax.set_ylabel("loss")
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=8)
  return fig
