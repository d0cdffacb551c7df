"""Routing attention against a numpy transcription of Sec. 4 (layer-normed shared q/k, top-w
tokens per centroid sorted by position, causal attention inside clusters, scatter-average),
the EMA k-means step, and causality of gradients."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import routing
from lib.attention.multihead import MultiHeadAttention

B, T, N, H, C = 2, 24, 2, 8, 4


def np_ln(x):
  x = np.asarray(x, np.float64)
  return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)


def np_routing(q, v, mu, w, kv_len=None):
  qn, v, mu = np_ln(q), np.asarray(v, np.float64), np.asarray(mu, np.float64)
  out = np.zeros(q.shape[:3] + v.shape[-1:])
  for b in range(q.shape[0]):
    valid = np.arange(T) < (T if kv_len is None else kv_len[b])
    for n in range(q.shape[2]):
      total, count = np.zeros((T, v.shape[-1])), np.zeros(T)
      for c in range(mu.shape[1]):
        d2 = ((qn[b, :, n] - mu[n, c]) ** 2).sum(-1)
        d2 = np.where(valid, d2, np.inf)
        members = np.sort(np.argsort(d2, kind="stable")[:w])
        x = qn[b, members, n]
        logits = x @ x.T / np.sqrt(q.shape[-1])
        allowed = (members[None, :] <= members[:, None]) & valid[members][None, :]
        for r, i in enumerate(members):
          count[i] += 1
          if allowed[r].any():
            e = np.where(allowed[r], np.exp(logits[r] - logits[r][allowed[r]].max()), 0)
            total[i] += (e / e.sum()) @ v[b, members, n]
      out[b, :, n] = total / np.maximum(count, 1)[:, None]
  return out


def data(seed):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((B, T, N, H)).astype(np.float32),
          rng.standard_normal((B, T, N, H)).astype(np.float32),
          rng.standard_normal((N, C, H)).astype(np.float32))


def test_matches_numpy_with_padding_and_weights():
  q, v, mu = data(0)
  kv_len = np.array([T, 17], np.int32)
  f = jax.jit(functools.partial(routing.routing_attention, window=8, kv_lengths=kv_len,
                                return_weights=True))
  out, weights, _ = f(q, q, v, mu)
  np.testing.assert_allclose(out, np_routing(q, v, mu, 8, kv_len), atol=1e-5, rtol=1e-5)
  w = np.asarray(weights)
  assert np.all(np.triu(w, 1) == 0)                                    # causal
  rows = w.sum(-1)
  assert np.all((np.abs(rows - 1) < 1e-5) | (rows == 0))              # averaged distributions


def test_ema_centroid_step_matches_numpy():
  q, _, mu = data(1)
  x = np_ln(q)
  got = jax.jit(routing.ema_centroids)(mu, jnp.asarray(x, jnp.float32))
  ref = np.asarray(mu, np.float64).copy()
  for n in range(N):
    pts = x[:, :, n].reshape(-1, H)
    nearest = np.argmin(((pts[:, None] - mu[n][None]) ** 2).sum(-1), axis=1)
    for c in range(C):
      if np.any(nearest == c):
        ref[n, c] = 0.99 * mu[n, c] + 0.01 * pts[nearest == c].mean(0)
  np.testing.assert_allclose(got, ref, atol=1e-5)


def test_module_state_updates_when_mutable_and_gradients_are_causal():
  x = np.random.default_rng(2).standard_normal((1, T, 16)).astype(np.float32)
  m = MultiHeadAttention(num_heads=N, kernel=routing.RoutingKernel(num_clusters=C, window=8))
  variables = jax.jit(m.init)(jax.random.key(0), x)
  mu0 = np.asarray(variables["routing"]["kernel"]["centroids"])
  assert mu0.shape == (N, C, H)

  @jax.jit
  def train_apply(variables, x):
    return m.apply(variables, x, mutable=["routing"])

  _, new_state = train_apply(variables, x)
  mu1 = np.asarray(new_state["routing"]["kernel"]["centroids"])
  assert np.any(mu1 != mu0) and np.max(np.abs(mu1 - mu0)) < 0.1     # a small EMA step
  t = 10
  grad = jax.jit(jax.grad(lambda x: jnp.sum(m.apply(variables, x)[:, t])))(x)
  grad = np.asarray(grad)
  assert np.all(grad[:, t + 1:] == 0) and np.any(grad[:, :t + 1] != 0)
