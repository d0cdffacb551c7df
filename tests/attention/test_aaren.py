"""Aaren: the prefix scan over (m, u, w) equals direct causal softmax attention with a fixed
query, computed here in numpy one prefix at a time."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import aaren

B, T, N, K, H = 2, 37, 4, 2, 8


def np_prefix_attention(q, k, v, lengths=None):
  """o_t = softmax(q . k_{1..t} / sqrt(d)) v_{1..t}, one prefix at a time (float64)."""
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  g = q.shape[1] // k.shape[2]
  out = np.zeros((q.shape[0], k.shape[1], q.shape[1], v.shape[-1]))
  for b in range(q.shape[0]):
    for n in range(q.shape[1]):
      s = k[b, :, n // g] @ q[b, n] / np.sqrt(q.shape[-1])
      for t in range(k.shape[1]):
        hi = t + 1 if lengths is None else min(t + 1, lengths[b])
        if hi == 0:
          continue
        w = np.exp(s[:hi] - s[:hi].max())
        out[b, t, n] = (w / w.sum()) @ v[b, :hi, n // g]
  return out


def data(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  return ((scale * rng.standard_normal((B, N, H))).astype(np.float32),
          (scale * rng.standard_normal((B, T, K, H))).astype(np.float32),
          rng.standard_normal((B, T, K, H)).astype(np.float32))


def test_scan_equals_direct_prefix_attention():
  q, k, v = data(0, scale=3.0)                   # large scores exercise the running max
  lengths = np.array([T, 0], np.int32)
  f = jax.jit(lambda q, k, v: (aaren.aaren_attention(q, k, v),
                               aaren.aaren_attention(q, k, v, kv_lengths=lengths),
                               aaren.aaren_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)))))
  out, padded, bf16 = f(q, k, v)
  ref = np_prefix_attention(q, k, v)
  np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(padded[0], ref[0], atol=1e-5, rtol=1e-5)
  assert np.all(np.asarray(padded)[1] == 0)                  # no valid key -> zeros, no NaN
  np.testing.assert_allclose(np.asarray(bf16, np.float32), ref, atol=1e-2 * np.abs(ref).max() * 3)


def test_combine_is_associative():
  rng = np.random.default_rng(1)
  trip = lambda: (jnp.asarray(rng.standard_normal(3) * 5), jnp.asarray(rng.random(3)),
                  jnp.asarray(rng.standard_normal((3, 2))))
  a, b, c = trip(), trip(), trip()
  left = aaren.combine(aaren.combine(a, b), c)
  right = aaren.combine(a, aaren.combine(b, c))
  for x, y in zip(left, right):
    np.testing.assert_allclose(x, y, rtol=1e-5)


def test_module_causal_gradient_and_no_retrace():
  m = aaren.Aaren(num_heads=2)
  x = np.random.default_rng(2).standard_normal((1, 16, 16)).astype(np.float32)
  params = jax.jit(m.init)(jax.random.key(0), x)
  traces = []

  @jax.jit
  def grad_at(params, x, onehot):
    traces.append(1)
    return jax.grad(lambda x: jnp.sum(m.apply(params, x) * onehot[None, :, None]))(x)

  for t in (0, 9):
    g = np.asarray(grad_at(params, x, np.eye(16, dtype=np.float32)[t]))
    assert np.all(g[:, t + 1:] == 0) and np.any(g[:, :t + 1] != 0)
  assert len(traces) == 1
