"""PVT spatial-reduction attention (Twins GSA) and Twins LSA against numpy."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import spatial_reduction as sr


def _mha(x_q, x_kv, wq, wk, wv, bq=0.0, bk=0.0, bv=0.0):
  """Softmax attention per head; w* [C, heads, d], b* [heads, d] -> out [T, heads, d]."""
  q, k, v = (np.einsum("tc,chd->thd", t, w) + bias
             for t, w, bias in ((x_q, wq, bq), (x_kv, wk, bk), (x_kv, wv, bv)))
  logits = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])
  w = np.exp(logits - logits.max(-1, keepdims=True))
  return np.einsum("hqk,khd->qhd", w / w.sum(-1, keepdims=True), v)


def _sra_numpy(x, p, r, heads):
  b, h, w, c = x.shape
  out = []
  for n in range(b):
    # SR: non-overlapping R x R patches times the conv kernel, then LayerNorm (PVT Eq. 4)
    patches = x[n].reshape(h // r, r, w // r, r, c).transpose(0, 2, 1, 3, 4).reshape(-1, r * r * c)
    red = patches @ p["sr"]["kernel"].reshape(r * r * c, c) + p["sr"]["bias"]
    mu, var = red.mean(-1, keepdims=True), red.var(-1, keepdims=True)
    red = (red - mu) / np.sqrt(var + 1e-5) * p["norm"]["scale"] + p["norm"]["bias"]
    kv, kvb = p["kv"]["kernel"], p["kv"]["bias"]
    o = _mha(x[n].reshape(h * w, c), red, p["q"]["kernel"], kv[:, :heads], kv[:, heads:],
             p["q"]["bias"], kvb[:heads], kvb[heads:])
    out.append(np.einsum("thd,hdc->tc", o, p["proj"]["kernel"]) + p["proj"]["bias"])
  return np.stack(out)                                                   # [B, N, C]


def _perturb(v, seed):
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(lambda a: a + 0.1 * rng.normal(size=a.shape).astype(a.dtype), v)


def test_spatial_reduction_attention_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 4, 6, 8)).astype(np.float32)
  attn = sr.SpatialReductionAttention(dim=8, num_heads=2, sr_ratio=2, qkv_bias=True,
                                      return_weights=True)
  tokens = x.reshape(2, 24, 8)
  v = _perturb(jax.jit(partial(attn.init, hw=(4, 6)))(jax.random.PRNGKey(0), tokens), 1)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _sra_numpy(x.astype(np.float64), p, 2, 2)
  y, st = jax.jit(partial(attn.apply, hw=(4, 6), mutable=["intermediates"]))(v, tokens)
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
  assert st["intermediates"]["attention_weights"][0].shape == (2, 2, 24, 6)   # N/R^2 keys
  np.testing.assert_allclose(np.asarray(jax.jit(attn.apply)(v, x)), want.reshape(x.shape),
                             rtol=1e-5, atol=1e-5)                           # NHWC input
  a16 = sr.SpatialReductionAttention(dim=8, num_heads=2, sr_ratio=2, qkv_bias=True,
                                     dtype=jnp.bfloat16)
  y16 = np.asarray(jax.jit(a16.apply)(v, x.astype(jnp.bfloat16)), np.float32).reshape(want.shape)
  err = np.abs(y16 - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err


def test_locally_grouped_attention_matches_numpy():
  x = np.random.default_rng(2).normal(size=(1, 4, 6, 8)).astype(np.float32)
  attn = sr.LocallyGroupedAttention(dim=8, num_heads=2, window_size=2)
  v = _perturb(jax.jit(attn.init)(jax.random.PRNGKey(1), x), 3)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  qkv = p["qkv"]["kernel"]
  want = np.zeros(x.shape)
  for i in range(0, 4, 2):
    for j in range(0, 6, 2):
      win = x[0, i:i + 2, j:j + 2].reshape(4, 8).astype(np.float64)
      o = _mha(win, win, qkv[:, :2], qkv[:, 2:4], qkv[:, 4:])
      o = np.einsum("thd,hdc->tc", o, p["proj"]["kernel"]) + p["proj"]["bias"]
      want[0, i:i + 2, j:j + 2] = o.reshape(2, 2, 8)
  np.testing.assert_allclose(np.asarray(jax.jit(attn.apply)(v, x)), want, rtol=1e-5, atol=1e-5)


def test_twins_stage_alternates_lsa_and_gsa_with_peg_after_first_block():
  x = jnp.zeros((1, 4, 4, 8))
  stage = sr.TwinsSVTStage(depth=4, num_heads=2, window_size=2, sr_ratio=2)
  params = jax.eval_shape(stage.init, jax.random.PRNGKey(0), x)["params"]
  kinds = ["gsa" if "sr" in params[f"block_{i}"]["attn"] else "lsa" for i in range(4)]
  assert kinds == ["lsa", "gsa", "lsa", "gsa"]
  assert "qkv" in params["block_0"]["attn"] and "kv" in params["block_1"]["attn"]
  assert params["peg"]["proj"]["kernel"].shape == (3, 3, 1, 8)           # depthwise 3x3
