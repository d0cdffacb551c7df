"""Blocked sliding-window attention: contiguity of each query's window, equality with dense
banded softmax attention (numpy), causality, padding."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import local

B, T, N, K, H = 2, 21, 2, 1, 8                   # T not a multiple of the block size


def np_banded(q, k, v, left, right, kv_len=None):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  g = q.shape[2] // k.shape[2]
  out = np.zeros(q.shape[:3] + v.shape[-1:])
  for b in range(q.shape[0]):
    s_len = k.shape[1] if kv_len is None else kv_len[b]
    for n in range(q.shape[2]):
      for i in range(q.shape[1]):
        js = [j for j in range(s_len) if i - left <= j <= i + right]
        if not js:
          continue
        s = k[b, js, n // g] @ q[b, i, n] / np.sqrt(q.shape[-1])
        w = np.exp(s - s.max())
        out[b, i, n] = (w / w.sum()) @ v[b, js, n // g]
  return out


def data(seed, hv=H):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((B, T, N, H)).astype(np.float32),
          rng.standard_normal((B, T, K, H)).astype(np.float32),
          rng.standard_normal((B, T, K, hv)).astype(np.float32))


@pytest.mark.parametrize("window,causal,block", [(4, True, None), ((3, 5), False, 6)])
def test_window_is_exactly_contiguous(window, causal, block):
  """q = 0 gives uniform weights; v = one-hot positions reveals each query's visible keys."""
  left, right = local.window_sides(window, causal)
  q = np.zeros((1, T, 1, H), np.float32)
  k = np.random.default_rng(0).standard_normal((1, T, 1, H)).astype(np.float32)
  v = np.eye(T, dtype=np.float32)[None, :, None, :]
  f = jax.jit(functools.partial(local.local_attention, window=window, is_causal=causal,
                                block_size=block))
  out = np.asarray(f(q, k, v))[0, :, 0]
  for i in range(T):
    seen = np.flatnonzero(out[i] > 0)
    lo, hi = max(0, i - left), min(T - 1, i + right)
    np.testing.assert_array_equal(seen, np.arange(lo, hi + 1))
    np.testing.assert_allclose(out[i, seen], 1.0 / len(seen), rtol=1e-6)


def test_equals_dense_banded_attention_fp32_and_bf16():
  q, k, v = data(1)
  kv_len = np.array([T, 13], np.int32)

  @jax.jit
  def forms(q, k, v):
    return (local.local_attention(q, k, v, window=5, is_causal=True),
            local.local_attention(q, k, v, window=(2, 4), is_causal=False, kv_lengths=kv_len),
            local.local_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)), window=5))

  causal, bidir, bf16 = forms(q, k, v)
  ref = np_banded(q, k, v, 5, 0)
  np.testing.assert_allclose(causal, ref, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(bidir, np_banded(q, k, v, 2, 4, kv_len), atol=1e-5, rtol=1e-5)
  assert bf16.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(bf16, np.float32), ref, atol=1e-2 * np.abs(ref).max())


def test_causal_gradient_zero_after_t_padding_and_no_retrace():
  q, k, v = data(2)
  traces = []

  @jax.jit
  def grads(q, k, v, onehot):
    traces.append(1)
    f = lambda *a: jnp.sum(local.local_attention(*a, window=4) * onehot[None, :, None, None])
    return jax.grad(f, argnums=(0, 1, 2))(q, k, v)

  for t in (3, 10):
    for g in grads(q, k, v, np.eye(T, dtype=np.float32)[t]):
      g = np.asarray(g)
      lo = max(t - 4, 0)
      assert np.all(g[:, t + 1:] == 0) and np.all(g[:, :lo] == 0)
      assert np.any(g[:, lo:t + 1] != 0)
  assert len(traces) == 1
  f = jax.jit(functools.partial(local.local_attention, window=4, is_causal=False))
  junk = lambda a: np.concatenate([a[:, :15], np.full_like(a[:, 15:], 40.0)], 1)
  full = np.asarray(f(q, junk(k), junk(v), kv_lengths=np.array([15, 0], np.int32)))
  np.testing.assert_allclose(full[0], np_banded(q, k, v, 4, 4, [15, 15])[0], atol=1e-5)
  assert np.all(full[1] == 0)                                  # no visible key -> zeros
