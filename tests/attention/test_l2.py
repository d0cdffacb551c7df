"""L2 self-attention: numpy transcription of -||q-k||^2/sqrt(d) logits, and the Lipschitz
property (Kim et al. 2021): the Jacobian's spectral norm stays bounded as the input scale
grows, while dot-product self-attention's grows."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import l2
from lib.attention.multihead import MultiHeadAttention

B, T, N, H, D = 2, 8, 2, 8, 16


def np_l2_attention(q, k, v, mask=None):
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  out = np.zeros(q.shape)
  for b in range(q.shape[0]):
    for n in range(q.shape[2]):
      d2 = ((q[b, :, n, None, :] - k[b, None, :, n, :]) ** 2).sum(-1)
      logits = -d2 / np.sqrt(q.shape[-1])
      if mask is not None:
        logits = np.where(mask, logits, -np.inf)
      w = np.exp(logits - logits.max(-1, keepdims=True))
      out[b, :, n] = (w / w.sum(-1, keepdims=True)) @ v[b, :, n]
  return out


def test_matches_numpy_and_module_ties_query_and_key():
  rng = np.random.default_rng(0)
  q, k, v = (rng.standard_normal((B, T, N, H)).astype(np.float32) for _ in range(3))
  f = jax.jit(lambda q, k, v: (l2.l2_attention(q, k, v),
                               l2.l2_attention(q, k, v, is_causal=True),
                               l2.l2_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)))))
  full, causal, bf16 = f(q, k, v)
  np.testing.assert_allclose(full, np_l2_attention(q, k, v), atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(causal, np_l2_attention(q, k, v, np.tri(T, dtype=bool)), atol=1e-5)
  ref = np_l2_attention(q, k, v)
  np.testing.assert_allclose(np.asarray(bf16, np.float32), ref, atol=1e-2 * np.abs(ref).max())
  # The module: one projection for q and k, and its output is the formula on those heads.
  m = l2.L2SelfAttention(num_heads=N, use_bias=False)
  x = rng.standard_normal((B, T, D)).astype(np.float32)
  params = m.init(jax.random.key(0), x)
  p = params["params"]
  assert set(p) == {"query_key", "value", "out"}
  qk = np.einsum("btd,dnh->btnh", x, p["query_key"]["kernel"])
  vv = np.einsum("btd,dnh->btnh", x, p["value"]["kernel"])
  ref_out = np.einsum("btnh,nhd->btd", np_l2_attention(qk, qk, vv), p["out"]["kernel"])
  np.testing.assert_allclose(m.apply(params, x), ref_out, atol=1e-4)


def test_empirical_lipschitz_bounded_while_dot_product_grows():
  l2m, dpm = l2.L2SelfAttention(num_heads=N), MultiHeadAttention(num_heads=N)
  x0 = jnp.ones((1, T, D))
  pl2, pdp = l2m.init(jax.random.key(0), x0), dpm.init(jax.random.key(0), x0)

  def spectral_norm(module, params):
    jac = jax.jit(jax.jacfwd(lambda z: module.apply(params, z.reshape(1, T, D)).reshape(-1)))
    return lambda x: np.linalg.norm(np.asarray(jac(x.reshape(-1))), 2)

  norm_l2, norm_dp = spectral_norm(l2m, pl2), spectral_norm(dpm, pdp)
  rng = np.random.default_rng(0)
  u, g = rng.standard_normal((1, 1, D)), rng.standard_normal((1, T, D))
  probes = lambda s: [s * g, s * (u + 0.1 * g)]              # spread-out and near-equal tokens
  lip = {s: (max(norm_l2(x) for x in probes(s)), max(norm_dp(x) for x in probes(s)))
         for s in (1.0, 4.0, 16.0)}
  assert max(v[0] for v in lip.values()) < 1.5 * lip[1.0][0], lip
  assert lip[16.0][1] > 10 * lip[1.0][1] and lip[4.0][1] > 3 * lip[1.0][1], lip
