"""Sparse Transformer patterns: key counts and two-hop reachability from the index sets, and
the blocked fast path equal to dense masked softmax attention (dense mask built only here)."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import sparse

B, T, N, H = 2, 50, 2, 8                 # 50 is not a multiple of the stride 8


def key_sets(pattern, n):
  return sparse.strided_key_sets(n) if pattern == "strided" else sparse.fixed_key_sets(n)


def dense_mask(sets, n):
  m = np.zeros((n, n), bool)
  for i, js in enumerate(sets):
    m[i, js] = True
  return m


def np_masked_attention(q, k, v, mask):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
  logits = np.where(mask, logits, -np.inf)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w = np.where(mask, w, 0)
  w = w / np.maximum(w.sum(-1, keepdims=True), 1e-300)
  return np.einsum("bnts,bsnh->btnh", w, v)


@pytest.mark.parametrize("pattern", ["strided", "fixed"])
def test_index_sets_budget_and_two_hop_reachability(pattern):
  for n in (16, 50, 64, 200):
    sets = key_sets(pattern, n)
    assert max(len(s) for s in sets) <= 2 * math.sqrt(n)
    m = dense_mask(sets, n)
    assert not np.any(np.triu(m, 1))                                   # causal
    two_hops = m | ((m.astype(int) @ m.astype(int)) > 0)
    np.testing.assert_array_equal(two_hops, np.tril(np.ones((n, n), bool)))


@pytest.mark.parametrize("pattern", ["strided", "fixed"])
def test_fast_path_sees_exactly_the_index_sets_and_matches_dense(pattern):
  rng = np.random.default_rng(0)
  q, k, v = (rng.standard_normal((B, T, N, H)).astype(np.float32) for _ in range(3))
  mask = dense_mask(key_sets(pattern, T), T)
  # Probe: q = 0 gives uniform weights, one-hot values reveal each query's keys.
  probe = jax.jit(functools.partial(sparse.sparse_attention, pattern=pattern))
  seen = np.asarray(probe(np.zeros((1, T, 1, H), np.float32), k[:1, :, :1],
                          np.eye(T, dtype=np.float32)[None, :, None]))[0, :, 0] > 0
  np.testing.assert_array_equal(seen, mask)
  kv_len = np.array([T, 31], np.int32)

  @jax.jit
  def forms(q, k, v):
    return (sparse.sparse_attention(q, k, v, pattern=pattern, kv_lengths=kv_len),
            sparse.sparse_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)),
                                    pattern=pattern))

  out, bf16 = forms(q, k, v)
  pad = np.arange(T)[None, :] < kv_len[:, None]
  ref = np_masked_attention(q, k, v, mask[None, None] & pad[:, None, None, :])
  np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)
  ref_nopad = np_masked_attention(q, k, v, mask[None, None])
  np.testing.assert_allclose(np.asarray(bf16, np.float32), ref_nopad,
                             atol=1e-2 * np.abs(ref_nopad).max())


def test_causal_gradient_zero_after_t_and_no_retrace():
  rng = np.random.default_rng(1)
  q, k, v = (rng.standard_normal((1, T, N, H)).astype(np.float32) for _ in range(3))
  traces = []

  @jax.jit
  def grads(q, k, v, onehot):
    traces.append(1)
    f = lambda *a: jnp.sum(sparse.sparse_attention(*a) * onehot[None, :, None, None])
    return jax.grad(f, argnums=(0, 1, 2))(q, k, v)

  sets = sparse.strided_key_sets(T)
  for t in (9, 37):
    gq, gk, gv = (np.asarray(g)[0] for g in grads(q, k, v, np.eye(T, dtype=np.float32)[t]))
    assert np.all(gq[np.arange(T) != t] == 0)
    for g in (gk, gv):                              # nonzero exactly on the key set of t
      np.testing.assert_array_equal(np.flatnonzero(np.any(g != 0, axis=(1, 2))), sets[t])
  assert len(traces) == 1
