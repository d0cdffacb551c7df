"""HiLo attention against a numpy transcription of its two branches."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.hilo import HiLo


def _mha(x_q, x_kv, wq, wk, wv):
  """Softmax attention per head; w* [C, heads, d] -> out [T, heads, d]."""
  q, k, v = (np.einsum("tc,chd->thd", t, w) for t, w in ((x_q, wq), (x_kv, wk), (x_kv, wv)))
  logits = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])
  w = np.exp(logits - logits.max(-1, keepdims=True))
  return np.einsum("hqk,khd->qhd", w / w.sum(-1, keepdims=True), v)


def _hilo_numpy(x, p, s, l_heads, h_heads):
  b, h, w, c = x.shape
  out = np.zeros((b, h, w, c))
  hd = p["h_qkv"]["kernel"]
  hq, hk, hv = hd[:, :h_heads], hd[:, h_heads:2 * h_heads], hd[:, 2 * h_heads:]
  lkv = p["l_kv"]["kernel"]
  h_dim = h_heads * hq.shape[-1]
  for n in range(b):
    for i in range(0, h, s):                    # Hi-Fi: each s x s window on its own
      for j in range(0, w, s):
        win = x[n, i:i + s, j:j + s].reshape(s * s, c)
        o = np.einsum("thd,hdc->tc", _mha(win, win, hq, hk, hv), p["h_proj"]["kernel"])
        out[n, i:i + s, j:j + s, :h_dim] = (o + p["h_proj"]["bias"]).reshape(s, s, -1)
    pooled = x[n].reshape(h // s, s, w // s, s, c).mean((1, 3)).reshape(-1, c)  # Lo-Fi
    o = _mha(x[n].reshape(h * w, c), pooled, p["l_q"]["kernel"], lkv[:, :l_heads],
             lkv[:, l_heads:])
    o = np.einsum("thd,hdc->tc", o, p["l_proj"]["kernel"]) + p["l_proj"]["bias"]
    out[n, :, :, h_dim:] = o.reshape(h, w, -1)
  return out


def test_hilo_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype(np.float32)
  hilo = HiLo(dim=16, num_heads=4, window_size=2, alpha=0.5, return_weights=True)
  v = jax.jit(hilo.init)(jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(1)
  v = jax.tree_util.tree_map(lambda a: a + 0.1 * rng.normal(size=a.shape).astype(a.dtype), v)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _hilo_numpy(x.astype(np.float64), p, 2, 2, 2)
  y, st = jax.jit(partial(hilo.apply, mutable=["intermediates"]))(v, x)
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
  hi_w, lo_w = st["intermediates"]["attention_weights"]
  assert hi_w.shape == (2 * 2 * 3, 2, 4, 4) and lo_w.shape == (2, 2, 24, 6)
  # tokens form [B, N, C] with hw give the same result
  y_tok = jax.jit(partial(hilo.apply, hw=(4, 6)))(v, x.reshape(2, 24, 16))
  np.testing.assert_allclose(np.asarray(y_tok), want.reshape(2, 24, 16), rtol=1e-5, atol=1e-5)
  y16 = jax.jit(HiLo(dim=16, num_heads=4, dtype=jnp.bfloat16).apply)(v, x.astype(jnp.bfloat16))
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err                # within 1e-2 of the output scale


def test_alpha_splits_heads_and_window_one_is_plain_attention():
  x = np.random.default_rng(2).normal(size=(1, 4, 4, 8)).astype(np.float32)
  v = jax.eval_shape(HiLo(dim=8, num_heads=4, alpha=0.75).init, jax.random.PRNGKey(1), x)["params"]
  assert v["l_q"]["kernel"].shape == (8, 3, 2) and v["h_qkv"]["kernel"].shape == (8, 3, 2)
  plain = HiLo(dim=8, num_heads=2, window_size=1)
  v = jax.jit(plain.init)(jax.random.PRNGKey(2), x)
  assert "h_qkv" not in v["params"]
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  t = x[0].reshape(16, 8).astype(np.float64)
  kv = p["l_kv"]["kernel"]
  o = _mha(t, t, p["l_q"]["kernel"], kv[:, :2], kv[:, 2:])
  want = np.einsum("thd,hdc->tc", o, p["l_proj"]["kernel"]) + p["l_proj"]["bias"]
  np.testing.assert_allclose(np.asarray(jax.jit(plain.apply)(v, x))[0].reshape(16, 8), want,
                             rtol=1e-5, atol=1e-5)
