"""The multi-head shell against a numpy transcription of MultiHead(X, C) = Concat(head_n) W^O
(Sec. 3.2.2 of "Attention Is All You Need"), with GQA, cross attention, sown weights, bf16
compute, RoPE as a qk_transform, and a kernel that is a linen module."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import linear, positions
from lib.attention.multihead import MultiHeadAttention, as_kernel, dot_product_kernel

B, T, S, D = 2, 6, 9, 16


def np_mha(p, x, ctx, num_heads, kv_heads, causal=False, rope=False):
  lin = lambda a, layer: np.einsum("btd,dnh->btnh", a, p[layer]["kernel"]) + p[layer]["bias"]
  q, k, v = lin(x, "query"), lin(ctx, "key"), lin(ctx, "value")
  if rope:
    rot = lambda a: np.asarray(positions.apply_rope(jnp.asarray(a, jnp.float32)), np.float64)
    q, k = rot(q), rot(k)
  g = num_heads // kv_heads
  heads = np.zeros(q.shape)
  for n in range(num_heads):
    logits = np.einsum("bth,bsh->bts", q[:, :, n], k[:, :, n // g]) / np.sqrt(q.shape[-1])
    if causal:
      logits = np.where(np.tri(q.shape[1], k.shape[1], dtype=bool), logits, -np.inf)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    heads[:, :, n] = np.einsum("bts,bsh->bth", w / w.sum(-1, keepdims=True), v[:, :, n // g])
  return np.einsum("btnh,nhd->btd", heads, p["out"]["kernel"]) + p["out"]["bias"]


def test_gqa_cross_attention_matches_numpy_and_sows_weights():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((B, T, D)).astype(np.float32)
  ctx = rng.standard_normal((B, S, 12)).astype(np.float32)
  m = MultiHeadAttention(num_heads=4, num_kv_heads=2, out_features=10,
                         kernel=functools.partial(dot_product_kernel, return_weights=True))
  params = jax.jit(m.init)(jax.random.key(0), x, ctx)
  p = jax.tree.map(np.asarray, params["params"])
  assert p["query"]["kernel"].shape == (D, 4, 4) and p["key"]["kernel"].shape == (12, 2, 4)
  assert p["out"]["kernel"].shape == (4, 4, 10)
  y, state = jax.jit(lambda p, x, c: m.apply(p, x, c, mutable="intermediates"))(params, x, ctx)
  np.testing.assert_allclose(y, np_mha(p, x, ctx, 4, 2), atol=1e-5)
  w = np.asarray(state["intermediates"]["attention_weights"][0])
  assert w.shape == (B, 4, T, S)
  np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)


def test_rope_causal_bf16_and_other_kernels():
  rng = np.random.default_rng(1)
  x = rng.standard_normal((B, T, D)).astype(np.float32)
  m = MultiHeadAttention(num_heads=2, qk_transform=positions.rope_qk_transform())
  params = jax.jit(m.init)(jax.random.key(1), x)
  p = jax.tree.map(np.asarray, params["params"])
  ref = np_mha(p, x, x, 2, 2, causal=True, rope=True)
  m16 = m.clone(dtype=jnp.bfloat16)
  lin = MultiHeadAttention(num_heads=2, kernel=as_kernel(linear.linear_attention, is_causal=True))

  @jax.jit
  def run(params, x):
    return (m.apply(params, x, is_causal=True), m16.apply(params, x, is_causal=True),
            lin.apply(params, x))

  y, y16, y_lin = run(params, x)
  np.testing.assert_allclose(y, ref, atol=1e-5)
  assert y16.dtype == jnp.bfloat16
  assert jax.tree.map(lambda a: a.dtype, params)["params"]["query"]["kernel"] == jnp.float32
  np.testing.assert_allclose(np.asarray(y16, np.float32), ref, atol=5e-2 * np.abs(ref).max())
  # Shell wiring for a weight-less kernel: numpy projections around linear attention (which
  # test_linear checks against its own numpy transcription).
  proj = lambda layer: np.einsum("btd,dnh->btnh", x, p[layer]["kernel"]) + p[layer]["bias"]
  heads = linear.linear_attention(*(jnp.asarray(proj(n), jnp.float32)
                                    for n in ("query", "key", "value")), is_causal=True)
  ref_lin = np.einsum("btnh,nhd->btd", heads, p["out"]["kernel"]) + p["out"]["bias"]
  np.testing.assert_allclose(y_lin, ref_lin, atol=1e-5)
