"""FAVOR+ against a numpy transcription of the positive-feature estimator (Lemma 1, Eq. 4-6 of
"Rethinking Attention with Performers"), its convergence to softmax attention, and causality."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import performer

B, T, N, H = 2, 12, 2, 8


def np_favor(q, k, v, w, causal):
  """Unstabilized estimator in float64: A_ij = phi(q_i).phi(k_j), rows normalized."""
  q, k, v, w = (np.asarray(a, np.float64) for a in (q, k, v, w))
  d, m = q.shape[-1], w.shape[0]
  phi = lambda x: np.exp((x * d ** -0.25) @ w.T
                         - 0.5 * np.sum((x * d ** -0.25) ** 2, -1, keepdims=True)) / np.sqrt(m)
  out = np.zeros(q.shape[:3] + v.shape[-1:])
  for b in range(q.shape[0]):
    for n in range(q.shape[2]):
      a = phi(q[b, :, n]) @ phi(k[b, :, n]).T
      if causal:
        a = np.tril(a)
      out[b, :, n] = (a @ v[b, :, n]) / a.sum(-1, keepdims=True)
  return out


def np_softmax_attention(q, k, v):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
  w = np.exp(logits - logits.max(-1, keepdims=True))
  return np.einsum("bnts,bsnh->btnh", w / w.sum(-1, keepdims=True), v)


def data(seed, scale=1.0):
  rng = np.random.default_rng(seed)
  return tuple((scale * rng.standard_normal((B, T, N, H))).astype(np.float32) for _ in range(3))


def test_orthogonal_blocks_and_chi_norms():
  orf = jax.jit(performer.orthogonal_random_features, static_argnums=(1, 2))
  w = np.asarray(orf(jax.random.key(0), 3 * H, H))
  for blk in range(3):
    rows = w[blk * H:(blk + 1) * H]
    gram = rows @ rows.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-4)    # orthogonal
  big = np.asarray(orf(jax.random.key(1), 4096, H))
  assert abs(np.mean(np.sum(big ** 2, -1)) - H) < 0.5      # E||g||^2 = d for chi norms


def test_matches_numpy_estimator_both_forms():
  q, k, v = data(0, scale=2.0)                             # large logits exercise stabilizers
  w = performer.orthogonal_random_features(jax.random.key(3), 32, H)
  f = jax.jit(lambda q, k, v, w: (performer.favor_attention(q, k, v, w),
                                  performer.favor_attention(q, k, v, w, is_causal=True,
                                                            chunk_size=5)))
  nc, c = f(q, k, v, w)
  np.testing.assert_allclose(nc, np_favor(q, k, v, w, False), atol=1e-5, rtol=1e-4)
  np.testing.assert_allclose(c, np_favor(q, k, v, w, True), atol=1e-5, rtol=1e-4)


def test_many_features_approach_softmax_attention():
  """Tolerance: the estimator's error shrinks like 1/sqrt(m); at m = 4096 and unit-variance
  inputs with d = 8 the mean absolute error to exact softmax attention is below 0.03, and it is
  at least 3x smaller than with m = 16 (averaged over 4 draws of the features)."""
  q, k, v = data(1, scale=0.7)
  exact = np_softmax_attention(q, k, v)
  def mean_err(m):
    f = jax.jit(lambda r: performer.performer_kernel(q, k, v, num_features=m, rng=r)[0])
    return np.mean([np.abs(np.asarray(f(jax.random.key(s))) - exact).mean() for s in range(4)])
  small, large = mean_err(16), mean_err(4096)
  assert large < 0.03 and large * 3 < small, (small, large)


def test_causal_stabilizer_does_not_leak_the_future():
  q, k, v = data(2)
  w = performer.orthogonal_random_features(jax.random.key(4), 16, H)
  t = 4
  f = lambda q, k, v: performer.favor_attention(q, k, v, w, is_causal=True, chunk_size=8)
  grads = jax.jit(jax.grad(lambda *a: jnp.sum(f(*a)[:, t]), argnums=(0, 1, 2)))(q, k, v)
  for g in grads:
    g = np.asarray(g)
    assert np.all(g[:, t + 1:] == 0) and np.any(g[:, :t + 1] != 0)
  # Values too: a huge key after t (it would dominate a global max and underflow every earlier
  # feature) leaves outputs <= t bit-identical.
  k2 = k.copy()
  k2[:, t + 1] = 40.0
  fj = jax.jit(f)
  np.testing.assert_array_equal(np.asarray(fj(q, k, v))[:, :t + 1],
                                np.asarray(fj(q, k2, v))[:, :t + 1])


def test_bf16_padding_and_empty_rows():
  q, k, v = data(5)
  w = performer.orthogonal_random_features(jax.random.key(5), 32, H)
  f = jax.jit(performer.favor_attention, static_argnames="is_causal")
  ref = np_favor(q, k, v, w, True)
  out = f(*(jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)), w, is_causal=True)
  np.testing.assert_allclose(np.asarray(out, np.float32), ref, atol=3e-2 * np.abs(ref).max())
  junk = lambda a: np.concatenate([a[:, :7], np.full_like(a[:, 7:], 30.0)], 1)
  base = np_favor(q, k[:, :7], v[:, :7], w, False)
  padded = f(q, junk(k), junk(v), w, kv_lengths=np.array([7, 7], np.int32))
  np.testing.assert_allclose(padded, base, atol=1e-5, rtol=1e-4)
  empty = np.asarray(f(q, k, v, w, is_causal=True, kv_lengths=np.array([0, 7], np.int32)))
  assert np.all(empty[0] == 0) and np.all(np.isfinite(empty))
