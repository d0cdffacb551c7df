"""Linear attention against a numpy transcription of Eq. 6 and Eq. 8-10 of
"Transformers are RNNs"."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import linear

B, T, N, K, H = 2, 12, 4, 2, 8


def np_phi(x):
  return np.where(x > 0, x + 1.0, np.exp(x))               # elu(x) + 1


def np_linear(q, k, v, causal, kv_len=None, eps=1e-6):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  g = q.shape[2] // k.shape[2]
  out = np.zeros(q.shape[:3] + (v.shape[-1],))
  for b in range(q.shape[0]):
    s_len = k.shape[1] if kv_len is None else kv_len[b]
    for n in range(q.shape[2]):
      fq, fk, vv = np_phi(q[b, :, n]), np_phi(k[b, :s_len, n // g]), v[b, :s_len, n // g]
      for i in range(q.shape[1]):
        hi = min(i + 1, s_len) if causal else s_len
        num = fq[i] @ (fk[:hi].T @ vv[:hi])
        out[b, i, n] = num / (fq[i] @ fk[:hi].sum(0) + eps)
  return out


def data(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((B, T, N, H)).astype(np.float32),
          rng.standard_normal((B, T, K, H)).astype(np.float32),
          rng.standard_normal((B, T, K, H)).astype(np.float32))


def test_matches_numpy_causal_noncausal_padded():
  q, k, v = data()
  kv_len = np.array([T, 7], np.int32)

  @jax.jit
  def all_forms(q, k, v):
    return (linear.linear_attention(q, k, v),
            linear.linear_attention(q, k, v, is_causal=True, chunk_size=5),   # 12 = 5+5+2 pad
            linear.linear_attention(q, k, v, kv_lengths=kv_len),
            linear.linear_attention(q, k, v, is_causal=True, kv_lengths=kv_len, chunk_size=4))

  got = all_forms(q, k, v)
  refs = (np_linear(q, k, v, False), np_linear(q, k, v, True),
          np_linear(q, k, v, False, kv_len), np_linear(q, k, v, True, kv_len))
  for g, r in zip(got, refs):
    np.testing.assert_allclose(g, r, atol=1e-5, rtol=1e-5)


def test_bf16_forward_within_1e2():
  q, k, v = data(1)
  out = jax.jit(functools.partial(linear.linear_attention, is_causal=True, chunk_size=4))(
      *(jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)))
  ref = np_linear(*(np.asarray(jnp.asarray(a, jnp.bfloat16), np.float32) for a in (q, k, v)), True)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out, np.float32), ref, atol=1e-2 * np.abs(ref).max())


def test_causal_gradient_wrt_future_is_exactly_zero_and_no_retrace():
  q, k, v = data(2)
  traces = []

  @jax.jit
  def grads_at(q, k, v, t_onehot):
    traces.append(1)
    f = lambda *a: jnp.sum(linear.linear_attention(*a, is_causal=True, chunk_size=5)
                           * t_onehot[None, :, None, None])
    return jax.grad(f, argnums=(0, 1, 2))(q, k, v)

  for t in (2, 7, 11):                                     # across chunks; last one padded
    for g in grads_at(q, k, v, np.eye(T, dtype=np.float32)[t]):
      g = np.asarray(g)
      assert np.all(g[:, t + 1:] == 0) and np.any(g[:, :t + 1] != 0)
  assert len(traces) == 1


def test_padding_does_not_change_unpadded_outputs_and_empty_rows_are_zero():
  q, k, v = data(3)
  f = jax.jit(linear.linear_attention)
  base = f(q, k[:, :6], v[:, :6])
  junk = lambda a: np.concatenate([a[:, :6], np.full_like(a[:, 6:], 50.0)], 1)
  padded = f(q, junk(k), junk(v), kv_lengths=np.array([6, 6], np.int32))
  np.testing.assert_allclose(padded, base, atol=1e-5)
  empty = f(q, k, v, kv_lengths=np.array([0, 6], np.int32))
  assert np.all(np.asarray(empty)[0] == 0) and np.all(np.isfinite(empty))
