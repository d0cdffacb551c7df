"""MaxViT multi-axis attention: block / grid reshapes, the block vs numpy, linear cost."""
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import erf

from lib.attention import maxvit


def test_grid_partition_picks_tokens_spaced_h_over_g_apart():
  b, h, w, c, g = 2, 8, 12, 3, 4
  x = np.random.default_rng(0).normal(size=(b, h, w, c)).astype(np.float32)
  groups = np.asarray(maxvit.grid_partition(jnp.asarray(x), g))
  assert groups.shape == (b * (h // g) * (w // g), g * g, c)
  sh, sw = h // g, w // g                                                   # spacing
  want = np.stack([np.stack([x[n, i * sh + a, j * sw + bb] for i in range(g) for j in range(g)])
                   for n in range(b) for a in range(sh) for bb in range(sw)])
  np.testing.assert_array_equal(groups, want)
  np.testing.assert_array_equal(np.asarray(maxvit.grid_reverse(jnp.asarray(groups), g, h, w)), x)
  blocks = np.asarray(maxvit.block_partition(jnp.asarray(x), 4))            # contiguous windows
  np.testing.assert_array_equal(blocks[1], x[0, 0:4, 4:8].reshape(16, c))
  np.testing.assert_array_equal(np.asarray(maxvit.block_reverse(jnp.asarray(blocks), 4, h, w)), x)


def _ln(x, p):
  mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def _rel_attention(tokens, a, table, m, heads):
  """Multi-head attention with a 2-D relative bias over an m x m group, numpy."""
  q = np.einsum("tnc,chd->tnhd", tokens, a["query"]["kernel"]) + a["query"]["bias"]
  k = np.einsum("tnc,chd->tnhd", tokens, a["key"]["kernel"]) + a["key"]["bias"]
  v = np.einsum("tnc,chd->tnhd", tokens, a["value"]["kernel"]) + a["value"]["bias"]
  logits = np.einsum("tqhd,tkhd->thqk", q, k) / np.sqrt(q.shape[-1])
  yy, xx = np.divmod(np.arange(m * m), m)
  dy, dx = yy[:, None] - yy[None], xx[:, None] - xx[None]
  logits = logits + table[(dy + m - 1) * (2 * m - 1) + dx + m - 1].transpose(2, 0, 1)
  wts = np.exp(logits - logits.max(-1, keepdims=True))
  wts /= wts.sum(-1, keepdims=True)
  o = np.einsum("thqk,tkhd->tqhd", wts, v)
  return np.einsum("tqhd,hdc->tqc", o, a["out"]["kernel"]) + a["out"]["bias"]


def _mlp(x, p):
  z = x @ p["fc1"]["kernel"] + p["fc1"]["bias"]
  return (0.5 * z * (1 + erf(z / np.sqrt(2)))) @ p["fc2"]["kernel"] + p["fc2"]["bias"]


def _maxvit_numpy(x, p, pb, g, heads):
  b, h, w, c = x.shape
  y = _ln(x, p["norm1"])
  blocks = np.stack([y[n, i:i + pb, j:j + pb].reshape(-1, c)
                     for n in range(b) for i in range(0, h, pb) for j in range(0, w, pb)])
  o = _rel_attention(blocks, p["block_attn"]["attn"],
                     p["block_attn"]["rel_pos"]["relative_position_bias_table"], pb, heads)
  out = np.zeros_like(x)
  t = 0
  for n in range(b):
    for i in range(0, h, pb):
      for j in range(0, w, pb):
        out[n, i:i + pb, j:j + pb] = o[t].reshape(pb, pb, c)
        t += 1
  x = x + out
  x = x + _mlp(_ln(x, p["norm2"]), p["mlp1"])
  y = _ln(x, p["norm3"])
  sh, sw = h // g, w // g
  grids = np.stack([y[n, a::sh, bb::sw].reshape(-1, c)                    # spaced H/G apart
                    for n in range(b) for a in range(sh) for bb in range(sw)])
  o = _rel_attention(grids, p["grid_attn"]["attn"],
                     p["grid_attn"]["rel_pos"]["relative_position_bias_table"], g, heads)
  out = np.zeros_like(x)
  t = 0
  for n in range(b):
    for a in range(sh):
      for bb in range(sw):
        out[n, a::sh, bb::sw] = o[t].reshape(g, g, c)
        t += 1
  x = x + out
  return x + _mlp(_ln(x, p["norm4"]), p["mlp2"])


def test_block_matches_numpy():
  x = np.random.default_rng(1).normal(size=(2, 8, 8, 16)).astype(np.float32)
  block = maxvit.MaxViTBlock(block_size=4, grid_size=4, head_dim=8, mlp_ratio=2.0)
  v = jax.jit(block.init)(jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(2)
  v = jax.tree_util.tree_map(lambda a: a + 0.2 * rng.normal(size=a.shape).astype(a.dtype), v)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _maxvit_numpy(x.astype(np.float64), p, 4, 4, 2)
  np.testing.assert_allclose(np.asarray(jax.jit(block.apply)(v, x)), want, rtol=1e-5, atol=1e-5)


def test_grid_attention_bf16():
  x = np.random.default_rng(3).normal(size=(2, 8, 8, 16)).astype(np.float32)
  groups = maxvit.grid_partition(jnp.asarray(x), 4)
  attn = maxvit.WindowAttention(num_heads=2, window_size=4, head_dim=8)
  v = jax.jit(attn.init)(jax.random.PRNGKey(1), groups)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _rel_attention(np.asarray(groups, np.float64), p["attn"],
                        p["rel_pos"]["relative_position_bias_table"], 4, 2)
  attn16 = maxvit.WindowAttention(num_heads=2, window_size=4, head_dim=8, dtype=jnp.bfloat16)
  y16 = np.asarray(jax.jit(attn16.apply)(v, groups.astype(jnp.bfloat16)), np.float32)
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale


def _flops(block_size, grid_size, side):
  block = maxvit.MaxViTBlock(block_size=block_size, grid_size=grid_size, head_dim=8,
                             mlp_ratio=2.0)
  x = jnp.zeros((1, side, side, 16))
  v = jax.eval_shape(block.init, jax.random.PRNGKey(0), x)
  return jax.jit(block.apply).lower(v, x).cost_analysis()["flops"]


def test_attention_cost_is_linear_in_pixels():
  """XLA's flop count of the block grows 4x when the pixels do; with one window spanning
  the map (global attention) it grows much faster, so the count can tell them apart."""
  np.testing.assert_allclose(_flops(4, 4, 16) / _flops(4, 4, 8), 4.0, rtol=0.05)
  assert _flops(16, 16, 16) / _flops(8, 8, 8) > 8.0
