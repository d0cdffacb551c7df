"""Talking-heads attention against a numpy transcription of the algorithm of Sec. 4
(J = QK^T, L = J P_l, W = softmax(L), U = W P_w, O = U V)."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import talking_heads as th
from lib.attention.multihead import MultiHeadAttention, dot_product_kernel

B, T, S, HK, HL, HV, D = 2, 6, 9, 3, 4, 5, 8


def np_talking_heads(q, k, v, p_l, p_w, mask=None):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  j = np.einsum("btkd,bskd->bkts", q, k) / np.sqrt(q.shape[-1])
  logits = np.einsum("bkts,kh->bhts", j, p_l)
  if mask is not None:
    logits = np.where(mask, logits, -np.inf)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w = w / w.sum(-1, keepdims=True)
  u = np.einsum("bhts,hv->bvts", w, p_w)
  return np.einsum("bvts,bsvd->btvd", u, v)


def test_matches_numpy_rectangular_mixing_causal_and_bf16():
  rng = np.random.default_rng(0)
  q = rng.standard_normal((B, T, HK, D)).astype(np.float32)
  k = rng.standard_normal((B, S, HK, D)).astype(np.float32)
  v = rng.standard_normal((B, S, HV, D)).astype(np.float32)
  p_l = rng.standard_normal((HK, HL)).astype(np.float32)
  p_w = rng.standard_normal((HL, HV)).astype(np.float32)
  f = jax.jit(lambda *a: (th.talking_heads_attention(*a)[0],
                          th.talking_heads_attention(*a, is_causal=True)[0],
                          th.talking_heads_attention(*(x.astype(jnp.bfloat16) for x in a[:3]),
                                                     *a[3:])[0]))
  full, causal, bf16 = f(q, k, v, p_l, p_w)
  ref = np_talking_heads(q, k, v, p_l, p_w)
  np.testing.assert_allclose(full, ref, atol=1e-4, rtol=1e-5)
  np.testing.assert_allclose(causal, np_talking_heads(q, k, v, p_l, p_w, np.tri(T, S, dtype=bool)),
                             atol=1e-4, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(bf16, np.float32), ref, atol=1e-2 * np.abs(ref).max())


def test_identity_at_init_equals_multihead_and_masks():
  x = np.random.default_rng(1).standard_normal((B, T, 16)).astype(np.float32)
  th_mha = MultiHeadAttention(num_heads=4, kernel=th.TalkingHeadsKernel())
  dp_mha = MultiHeadAttention(num_heads=4, kernel=dot_product_kernel)
  params = th_mha.init(jax.random.key(0), x)
  np.testing.assert_array_equal(params["params"]["kernel"]["pre_softmax"], np.eye(4))
  dp_params = {"params": {k: v for k, v in params["params"].items() if k != "kernel"}}
  kv_len = np.array([T, 0], np.int32)

  @jax.jit
  def both(params, dp_params, x):
    a, st = th_mha.apply(params, x, kv_lengths=kv_len, is_causal=True, return_weights=True,
                         mutable="intermediates")
    return a, st, dp_mha.apply(dp_params, x, kv_lengths=kv_len, is_causal=True)

  a, state, b = both(params, dp_params, x)
  np.testing.assert_allclose(a, b, atol=1e-5)
  w = np.asarray(state["intermediates"]["attention_weights"][0])
  assert w.shape == (B, 4, T, T) and np.all(np.triu(w[0], 1) == 0) and np.all(w[1] == 0)
  np.testing.assert_allclose(w[0].sum(-1), 1.0, atol=1e-6)


def test_causal_gradient_zero_after_t():
  rng = np.random.default_rng(2)
  q, k, v = (rng.standard_normal((1, T, HK, D)).astype(np.float32) for _ in range(3))
  p_l = rng.standard_normal((HK, HK)).astype(np.float32)
  p_w = rng.standard_normal((HK, HK)).astype(np.float32)
  t = 2
  f = lambda *a: jnp.sum(th.talking_heads_attention(*a, p_l, p_w, is_causal=True)[0][:, t])
  for g in jax.jit(jax.grad(f, argnums=(0, 1, 2)))(q, k, v):
    g = np.asarray(g)
    assert np.all(g[:, t + 1:] == 0) and np.any(g[:, :t + 1] != 0)
