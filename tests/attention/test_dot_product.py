"""Dot-product attention and its masks against a numpy transcription of Eq. 1 of
"Attention Is All You Need"."""
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import dot_product as dp
from lib.attention import masks

B, T, S, N, K, H = 2, 8, 12, 4, 2, 8


def np_attention(q, k, v, bias=None, mask=None):
  """softmax(q k^T / sqrt(d) + bias) v per head with kv head n // (N // K); masked rows -> 0."""
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  g = q.shape[2] // k.shape[2]
  out = np.zeros(q.shape)
  w_all = np.zeros((q.shape[0], q.shape[2], q.shape[1], k.shape[1]))
  for b in range(q.shape[0]):
    for n in range(q.shape[2]):
      logits = q[b, :, n] @ k[b, :, n // g].T / np.sqrt(q.shape[-1])
      if bias is not None:
        logits = logits + np.broadcast_to(bias, w_all.shape)[b, n]
      m = np.ones_like(logits, bool) if mask is None else np.broadcast_to(mask, w_all.shape)[b, n]
      for i in range(logits.shape[0]):
        if not m[i].any():
          continue
        e = np.where(m[i], np.exp(logits[i] - logits[i][m[i]].max()), 0.0)
        w_all[b, n, i] = e / e.sum()
      out[b, :, n] = w_all[b, n] @ v[b, :, n // g]
  return out, w_all


def np_structure_mask(t, s, causal=False, q_seg=None, kv_seg=None, q_len=None, kv_len=None):
  m = np.ones((B, 1, t, s), bool)
  i, j = np.arange(t)[:, None], np.arange(s)[None, :]
  if causal:
    m &= (j <= i)[None, None]
  if q_seg is not None:
    m &= (np.asarray(q_seg)[:, :, None] == np.asarray(kv_seg)[:, None, :])[:, None]
  if q_len is not None:
    m &= (np.arange(t)[None, :] < np.asarray(q_len)[:, None])[:, None, :, None]
  if kv_len is not None:
    m &= (np.arange(s)[None, :] < np.asarray(kv_len)[:, None])[:, None, None, :]
  return m


@pytest.fixture(scope="module")
def qkv():
  rng = np.random.default_rng(0)
  return tuple(rng.standard_normal(shape).astype(np.float32)
               for shape in ((B, T, N, H), (B, S, K, H), (B, S, K, H), (1, N, T, S)))


@pytest.mark.parametrize("implementation", ["xla", "explicit"])
def test_matches_numpy_with_all_structures(qkv, implementation):
  q, k, v, bias = qkv
  q_seg = np.array([[0] * 5 + [1] * 3, [0] * 8])
  kv_seg = np.array([[0] * 6 + [1] * 6, [0] * 12])
  q_len, kv_len = np.array([7, 8], np.int32), np.array([10, 12], np.int32)
  kw = dict(bias=bias, is_causal=True, q_segment_ids=q_seg, kv_segment_ids=kv_seg,
            q_lengths=q_len, kv_lengths=kv_len)
  fn = jax.jit(functools.partial(dp.dot_product_attention, implementation=implementation, **kw))
  ref, _ = np_attention(q, k, v, bias, np_structure_mask(T, S, True, q_seg, kv_seg, q_len, kv_len))
  np.testing.assert_allclose(fn(q, k, v), ref, atol=1e-5, rtol=1e-5)


def test_weights_and_dense_mask(qkv):
  q, k, v, _ = qkv
  mask = np.random.default_rng(1).random((B, N, T, S)) < 0.6
  mask[0, 1, 3] = False                                   # one fully masked row
  both = jax.jit(lambda q, k, v, m: (dp.dot_product_attention(q, k, v, mask=m, return_weights=True),
                                     dp.dot_product_attention(q, k, v, mask=m)))
  (out, w), out_fast = both(q, k, v, mask)
  ref_out, ref_w = np_attention(q, k, v, mask=mask)
  np.testing.assert_allclose(w, ref_w, atol=1e-6)
  np.testing.assert_allclose(out, ref_out, atol=1e-5)
  np.testing.assert_allclose(out_fast, ref_out, atol=1e-5)
  assert np.all(np.asarray(w)[0, 1, 3] == 0) and np.all(np.asarray(out)[0, 3, 1] == 0)


def test_bf16_forward_within_1e2(qkv):
  q, k, v, _ = qkv
  out = jax.jit(functools.partial(dp.dot_product_attention, is_causal=True))(
      *(a.astype(jnp.bfloat16) for a in (q, k, v)))
  assert out.dtype == jnp.bfloat16
  ref, _ = np_attention(q, k, v, mask=np_structure_mask(T, S, causal=True))
  np.testing.assert_allclose(np.asarray(out, np.float32), ref, atol=1e-2 * np.abs(ref).max())


def test_fully_masked_rows_are_zero_and_gradients_finite(qkv):
  q, k, v, _ = qkv
  kv_len = np.array([0, 5], np.int32)
  q_seg = np.array([[2] * 8, [0] * 8])                    # batch 0: segment absent from keys
  kv_seg = np.zeros((B, S), np.int32)
  cases = [dict(implementation=impl, **kw) for impl in ("xla", "explicit")
           for kw in (dict(kv_lengths=kv_len), dict(q_segment_ids=q_seg, kv_segment_ids=kv_seg))]

  @jax.jit
  def outs_and_grads(q, k, v):
    res = []
    for kw in cases:
      f = lambda *a: dp.dot_product_attention(*a, **kw)
      res.append((f(q, k, v), jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=(0, 1, 2))(q, k, v)))
    return res

  for out, grads in outs_and_grads(q, k, v):
    out = np.asarray(out)
    assert np.all(out[0] == 0) and np.all(np.isfinite(out)) and np.any(out[1] != 0)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_padding_does_not_change_unpadded_outputs(qkv):
  q, k, v, _ = qkv
  base = dp.dot_product_attention(q, k[:, :7], v[:, :7])
  junk = lambda a: np.concatenate([a[:, :7], np.full_like(a[:, 7:], 100.0)], 1)
  padded = jax.jit(dp.dot_product_attention)(q, junk(k), junk(v),
                                             kv_lengths=np.full((B,), 7, np.int32))
  np.testing.assert_allclose(padded, base, atol=1e-6)


def test_causal_gradient_wrt_future_is_exactly_zero():
  x = np.random.default_rng(2).standard_normal((3, 1, T, N, H)).astype(np.float32)
  t = 3

  @jax.jit
  def grads_at_t(q, k, v):
    res = []
    for impl in ("xla", "explicit"):
      f = lambda *a: dp.dot_product_attention(*a, is_causal=True, implementation=impl)
      res += jax.grad(lambda *a: jnp.sum(f(*a)[:, t]), argnums=(0, 1, 2))(q, k, v)
    return res

  for g in grads_at_t(*x):
    assert np.all(np.asarray(g)[:, t + 1:] == 0)
    assert np.any(np.asarray(g)[:, : t + 1] != 0)


def test_no_retrace_and_one_log_line_per_trace(qkv, caplog):
  q, k, v, _ = qkv
  traces = []

  @jax.jit
  def f(q, k, v):
    traces.append(1)
    return dp.dot_product_attention(q, k, v, is_causal=True)

  with caplog.at_level(logging.INFO, logger="lib.attention.dot_product"):
    for i in range(3):
      f(q + i, k, v).block_until_ready()                # same shapes, new values
  assert len(traces) == 1
  assert sum("xla path" in r.getMessage() for r in caplog.records) == 1


def test_dispatch_rules(monkeypatch):
  bf = jnp.zeros((1, 4, 2, 64), jnp.bfloat16)
  assert dp.chosen_implementation(bf) == ("cudnn" if jax.default_backend() == "gpu" else "xla")
  assert dp.chosen_implementation(bf, return_weights=True) == "explicit"
  assert dp.chosen_implementation(jnp.zeros((1, 4, 2, 64))) == "xla"           # fp32
  monkeypatch.setattr(dp, "jax", type("J", (), {"default_backend": staticmethod(lambda: "gpu")}))
  assert dp.chosen_implementation(bf) == "cudnn"
  assert dp.chosen_implementation(bf, has_dense_mask=True) == "xla"
  assert dp.chosen_implementation(jnp.zeros((1, 4, 2, 12), jnp.bfloat16)) == "xla"  # 12 % 8
  assert dp.chosen_implementation(jnp.zeros((1, 4, 2, 256), jnp.bfloat16)) == "xla"  # > 128
  monkeypatch.setattr(dp, "IMPLEMENTATION", "xla")
  assert dp.chosen_implementation(bf) == "xla"


def test_mask_helpers_against_index_formulas():
  i, j = np.arange(5)[:, None], np.arange(7)[None, :]
  np.testing.assert_array_equal(masks.causal_mask(5, 7)[0, 0], j <= i)
  np.testing.assert_array_equal(masks.window_mask(5, 7, 2, 1)[0, 0], (i - j <= 2) & (j - i <= 1))
  pm = np.asarray(masks.padding_mask(5, 7, np.array([2, 5]), np.array([7, 3])))
  assert pm.shape == (2, 1, 5, 7) and pm[0, 0, :2].all() and not pm[0, 0, 2:].any()
  assert pm[1, 0, :, :3].all() and not pm[1, 0, :, 3:].any()
  assert masks.make_attention_mask(5, 7) is None
