"""Swin: window reshapes, the shifted-window mask vs the region rule, the block vs numpy,
the small-input rule, and no retrace across calls of one shape."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from lib.attention import swin


def _windows_numpy(x, m):
  """[B,H,W,C] -> [B*nW, M*M, C] by explicit loops over windows (row-major)."""
  b, h, w, c = x.shape
  out = []
  for i in range(b):
    for a in range(h // m):
      for bb in range(w // m):
        out.append(x[i, a * m:(a + 1) * m, bb * m:(bb + 1) * m].reshape(m * m, c))
  return np.stack(out)


def test_window_partition_and_reverse():
  x = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype(np.float32)
  win = np.asarray(swin.window_partition(jnp.asarray(x), 2))
  np.testing.assert_array_equal(win, _windows_numpy(x, 2))
  np.testing.assert_array_equal(np.asarray(swin.window_reverse(jnp.asarray(win), 2, 4, 6)), x)


@pytest.mark.parametrize("h,w", [(8, 8), (8, 12)])
def test_shifted_window_mask_is_the_region_rule(h, w):
  m, s = 4, 2
  ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  # pixel at (i, j) of the rolled map is the original pixel ((i + s) % H, (j + s) % W)
  coords = np.stack([np.roll(ys, (-s, -s), (0, 1)), np.roll(xs, (-s, -s), (0, 1))], -1)
  wc = _windows_numpy(coords[None].astype(np.float64), m)                  # [nW, M*M, 2]
  dist = np.abs(wc[:, :, None] - wc[:, None, :])                           # original distance
  neighbours = np.all(dist < m, axis=-1)           # both tokens were in one M x M patch
  want = np.where(neighbours, 0.0, -100.0)
  # the same from region ids: a pixel's region is which borders it wrapped across
  region = (coords[..., 0] < s) * 2 + (coords[..., 1] < s)
  rid = _windows_numpy(region[None, :, :, None].astype(np.float64), m)[..., 0]
  np.testing.assert_array_equal(want, np.where(rid[:, :, None] == rid[:, None, :], 0.0, -100.0))
  np.testing.assert_array_equal(swin.shifted_window_mask(h, w, m, s), want)
  assert (want[-1] == -100).any() and not (want[0] == -100).any()         # corner vs interior


def _ln(x, p):
  mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + 1e-5) * p["scale"] + p["bias"]


def _swin_block_numpy(x, p, m, s, heads):
  b, h, w, c = x.shape
  a = p["attn"]["attn"]
  y = _ln(x, p["norm1"])
  if s:
    y = np.roll(y, (-s, -s), (1, 2))
  win = _windows_numpy(y, m)                                               # [B*nW, N, C]
  q = np.einsum("tnc,chd->tnhd", win, a["query"]["kernel"]) + a["query"]["bias"]
  k = np.einsum("tnc,chd->tnhd", win, a["key"]["kernel"]) + a["key"]["bias"]
  v = np.einsum("tnc,chd->tnhd", win, a["value"]["kernel"]) + a["value"]["bias"]
  logits = np.einsum("tqhd,tkhd->thqk", q, k) / np.sqrt(c // heads)
  table = p["attn"]["rel_pos"]["relative_position_bias_table"]
  yy, xx = np.divmod(np.arange(m * m), m)
  dy, dx = yy[:, None] - yy[None], xx[:, None] - xx[None]
  logits += table[(dy + m - 1) * (2 * m - 1) + dx + m - 1].transpose(2, 0, 1)   # Eq. 4
  if s:
    logits = logits.reshape(b, -1, heads, m * m, m * m)
    logits = (logits + swin.shifted_window_mask(h, w, m, s)[None, :, None]).reshape(
        -1, heads, m * m, m * m)
  wts = np.exp(logits - logits.max(-1, keepdims=True))
  wts /= wts.sum(-1, keepdims=True)
  o = np.einsum("thqk,tkhd->tqhd", wts, v)
  o = np.einsum("tqhd,hdc->tqc", o, a["out"]["kernel"]) + a["out"]["bias"]
  o = o.reshape(b, h // m, w // m, m, m, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
  if s:
    o = np.roll(o, (s, s), (1, 2))
  x = x + o
  z = _ln(x, p["norm2"]) @ p["mlp"]["fc1"]["kernel"] + p["mlp"]["fc1"]["bias"]
  z = 0.5 * z * (1 + erf(z / np.sqrt(2)))
  return x + z @ p["mlp"]["fc2"]["kernel"] + p["mlp"]["fc2"]["bias"]


def test_shifted_block_matches_numpy():
  x = np.random.default_rng(1).normal(size=(2, 8, 8, 8)).astype(np.float32)
  block = swin.SwinBlock(num_heads=2, window_size=4, shift_size=2, mlp_ratio=2.0)
  v = jax.jit(block.init)(jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(2)
  v = jax.tree_util.tree_map(lambda a: a + 0.2 * rng.normal(size=a.shape).astype(a.dtype), v)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _swin_block_numpy(x.astype(np.float64), p, 4, 2, 2)
  np.testing.assert_allclose(np.asarray(jax.jit(block.apply)(v, x)), want, rtol=1e-5, atol=1e-5)


def test_masked_window_attention_bf16():
  x = np.random.default_rng(4).normal(size=(2, 8, 8, 8)).astype(np.float32)
  win = swin.window_partition(jnp.asarray(x), 4)
  mask = swin.shifted_window_mask(8, 8, 4, 2)
  attn = swin.WindowAttention(num_heads=2, window_size=4)
  v = jax.jit(attn.init)(jax.random.PRNGKey(2), win, mask)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  a = p["attn"]
  w64 = np.asarray(win, np.float64)
  q, k, vv = (np.einsum("tnc,chd->tnhd", w64, a[n]["kernel"]) + a[n]["bias"]
              for n in ("query", "key", "value"))
  logits = np.einsum("tqhd,tkhd->thqk", q, k) / 2.0                         # head_dim 4
  yy, xx = np.divmod(np.arange(16), 4)
  idx = (yy[:, None] - yy[None] + 3) * 7 + xx[:, None] - xx[None] + 3
  logits += p["rel_pos"]["relative_position_bias_table"][idx].transpose(2, 0, 1)
  logits = (logits.reshape(2, 4, 2, 16, 16) + mask[None, :, None]).reshape(8, 2, 16, 16)
  wts = np.exp(logits - logits.max(-1, keepdims=True))
  wts /= wts.sum(-1, keepdims=True)
  want = np.einsum("tqhd,hdc->tqc", np.einsum("thqk,tkhd->tqhd", wts, vv),
                   a["out"]["kernel"]) + a["out"]["bias"]
  np.testing.assert_allclose(np.asarray(jax.jit(attn.apply)(v, win, mask)), want,
                             rtol=1e-5, atol=1e-5)
  a16 = swin.WindowAttention(num_heads=2, window_size=4, dtype=jnp.bfloat16)
  y16 = np.asarray(jax.jit(a16.apply)(v, win.astype(jnp.bfloat16), mask), np.float32)
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale


def test_no_shift_when_input_fits_the_window():
  x = np.random.default_rng(3).normal(size=(1, 4, 4, 8)).astype(np.float32)
  shifted = swin.SwinBlock(num_heads=2, window_size=7, shift_size=3)
  v = jax.jit(shifted.init)(jax.random.PRNGKey(1), x)
  table = v["params"]["attn"]["rel_pos"]["relative_position_bias_table"]
  assert table.shape == ((2 * 4 - 1) ** 2, 2)                              # window became 4
  plain = swin.SwinBlock(num_heads=2, window_size=4, shift_size=0)
  y_plain = np.asarray(jax.jit(plain.apply)(v, x))
  np.testing.assert_allclose(np.asarray(jax.jit(shifted.apply)(v, x)), y_plain,
                             rtol=1e-6, atol=1e-6)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  np.testing.assert_allclose(y_plain,
                             _swin_block_numpy(x.astype(np.float64), p, 4, 0, 2),
                             rtol=1e-5, atol=1e-5)


def test_no_retrace_across_calls_of_one_shape():
  block = swin.SwinBlock(num_heads=2, window_size=4, shift_size=2, mlp_ratio=2.0,
                         return_weights=True)
  x = jnp.ones((1, 8, 8, 8))
  v = jax.jit(block.init)(jax.random.PRNGKey(0), x)
  traces = []

  @jax.jit
  def fwd(v, x):
    traces.append(1)
    return block.apply(v, x, mutable=["intermediates"])

  _, st1 = fwd(v, x)
  _, st2 = fwd(v, x * 2.0 + 1.0)
  assert len(traces) == 1
  w = st2["intermediates"]["attn"]["attn"]["attention_weights"][0]
  assert w.shape == (4, 2, 16, 16)                                         # [B*nW, heads, N, N]
  # the -100 mask makes cross-region weights vanish in the corner window
  mask = swin.shifted_window_mask(8, 8, 4, 2)
  assert float(jnp.max(jnp.where(mask[-1] < 0, w[-1], 0.0))) < 1e-30
