"""Each plot returns a Figure with the axes, images and lines its inputs call for: the number of
axes, the shape of the image data, the plotted values (checked against the inputs), and that it
renders to PNG on the Agg canvas."""
import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lib.analysis import plots
from lib.errors import DataError


def _png_ok(fig):
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def _softmax_rows(rng, shape):
  x = rng.normal(size=shape)
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_curves_one_axis_per_metric_skipping_nan_and_perf():
  columns = {"step": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "accuracy": [math.nan, 0.5, 0.8],
             "perf/mfu": [0.1, 0.1, 0.1], "steps_per_sec": [9.0, 9.0, 9.0]}
  fig = plots.curves(columns, logy=("loss",))
  assert isinstance(fig, Figure)
  titles = [ax.get_title() for ax in fig.axes]
  assert titles == ["loss", "accuracy"]
  loss_ax, acc_ax = fig.axes
  np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), [3.0, 2.0, 1.0])
  np.testing.assert_array_equal(acc_ax.lines[0].get_xdata(), [2.0, 3.0])   # NaN row skipped
  assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
  # a DataFrame indexed by step (Run.metrics_frame) draws the same
  frame = pd.DataFrame(columns).set_index("step")
  fig2 = plots.curves(frame, keys=["accuracy"])
  assert len(fig2.axes) == 1
  np.testing.assert_array_equal(fig2.axes[0].lines[0].get_ydata(), [0.5, 0.8])
  with pytest.raises(DataError, match="metrics are"):
    plots.curves(columns, keys=["fid"])
  _png_ok(fig)


def test_sample_grid_tiles_rows_in_order():
  n, h, w = 6, 4, 5
  images = np.stack([np.full((h, w, 1), -1.0 + 0.4 * i) for i in range(n)])
  fig = plots.sample_grid(images, nrow=2, row_labels=["a", "b"])
  (ax,) = fig.axes
  (im,) = ax.get_images()
  data = np.asarray(im.get_array())
  assert data.shape == (2 * h + 1, 3 * w + 2)          # 2 rows x 3 columns, 1-pixel padding
  # image i at row i // 3, column i % 3, mapped from [-1, 1] to [0, 1]
  for i in range(n):
    r, c = divmod(i, 3)
    np.testing.assert_allclose(data[r * (h + 1), c * (w + 1)], (images[i, 0, 0, 0] + 1) / 2)
  assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
  rgb = plots.sample_grid(np.zeros((4, 3, 3, 3)))
  assert np.asarray(rgb.axes[0].get_images()[0].get_array()).shape == (7, 7, 3)
  with pytest.raises(DataError):
    plots.sample_grid(np.zeros((4, 3, 3)))
  _png_ok(fig)


def test_attention_heads_puts_each_heads_query_row_on_the_patch_grid():
  rng = np.random.default_rng(0)
  heads, grid = 3, 4
  t = 1 + grid * grid
  weights = _softmax_rows(rng, (heads, t, t))
  image = rng.uniform(-1, 1, (16, 16, 1))
  fig = plots.attention_heads(image, weights, query=0)
  assert len(fig.axes) == 1 + heads
  for head, ax in enumerate(fig.axes[1:]):
    base, over = ax.get_images()
    assert np.asarray(base.get_array()).shape == (16, 16)
    np.testing.assert_allclose(np.asarray(over.get_array()),
                               weights[head, 0, 1:].reshape(grid, grid))
    assert over.get_extent() == [-0.5, 15.5, 15.5, -0.5]    # stretched over the image
  with pytest.raises(DataError, match="square grid"):
    plots.attention_heads(image, weights[:, :-1, :-1])
  with pytest.raises(DataError, match="index the layer"):
    plots.attention_heads(image, weights[None])
  _png_ok(fig)


def test_rollout_over_image_draws_the_query_row():
  rng = np.random.default_rng(1)
  rollout = _softmax_rows(rng, (10, 10))                 # [class] + 3 x 3 patches
  fig = plots.rollout_over_image(rng.uniform(-1, 1, (6, 6, 3)), rollout, query=2)
  assert len(fig.axes) == 2
  base, over = fig.axes[1].get_images()
  assert np.asarray(base.get_array()).shape == (6, 6, 3)
  np.testing.assert_allclose(np.asarray(over.get_array()), rollout[2, 1:].reshape(3, 3))


def test_cka_heatmap_image_is_the_matrix():
  m = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.7]])
  fig = plots.cka_heatmap(m, labels_a=["x0", "x1"], labels_b=["y0", "y1", "y2"])
  assert len(fig.axes) == 2                                # the map and its colorbar
  (im,) = fig.axes[0].get_images()
  np.testing.assert_array_equal(np.asarray(im.get_array()), m)
  assert im.get_clim() == (0.0, 1.0)
  assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["y0", "y1", "y2"]
  _png_ok(fig)


def test_probe_accuracy_line_and_chance():
  acc = [0.2, 0.6, 0.9]
  fig = plots.probe_accuracy(acc, ["embed", "block_0", "block_1"], chance=0.1)
  (ax,) = fig.axes
  np.testing.assert_array_equal(ax.lines[0].get_ydata(), acc)
  np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.1, 0.1])
  with pytest.raises(DataError, match="one per layer"):
    plots.probe_accuracy(acc, ["a"])


def test_residual_curves_log_scale_mean_per_layer():
  pure = 0.5 ** (2.0 ** np.arange(5))                    # doubly exponential decay
  runs = np.stack([np.ones(5), 3 * np.ones(5)], 1)          # [layers, runs]
  fig = plots.residual_curves({"pure attention": pure, "with skips": runs})
  (ax,) = fig.axes
  assert ax.get_yscale() == "log"
  np.testing.assert_allclose(ax.lines[0].get_ydata(), pure)
  np.testing.assert_allclose(ax.lines[1].get_ydata(), 2 * np.ones(5))   # the mean over runs
  assert len(ax.collections) == 1                           # min-max band of the runs only
  _png_ok(fig)


def test_barrier_curve_with_its_chord():
  lam = np.linspace(0, 1, 5)
  losses = 1 + 4 * lam * (1 - lam)
  result = {"lambdas": lam, "losses": losses, "barrier": 1.0}
  fig = plots.barrier_curve({"naive": result, "matched": {**result, "losses": 0 * lam + 1,
                                                          "barrier": 0.0}})
  (ax,) = fig.axes
  assert len(ax.lines) == 4                                 # two curves, two chords
  np.testing.assert_allclose(ax.lines[0].get_ydata(), losses)
  np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.0, 1.0])
  assert "barrier 1" in ax.get_legend().get_texts()[0].get_text()
  assert len(plots.barrier_curve(result).axes) == 1
