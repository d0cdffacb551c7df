"""SE, CBAM and ResNeSt split attention against numpy transcriptions of the papers."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import cnn_attention as ca

_sig = lambda z: 1 / (1 + np.exp(-z))
_relu = lambda z: np.maximum(z, 0)


def _np(tree):
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def _conv_same(x, k, groups=1):
  """numpy grouped conv, stride 1, zero SAME padding. x [B,H,W,Cin], k [kh,kw,Cin/G,Cout]."""
  kh, kw, cig, cout = k.shape
  cog = cout // groups
  xp = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
  out = np.zeros(x.shape[:3] + (cout,))
  for g in range(groups):
    for a in range(kh):
      for c in range(kw):
        patch = xp[:, a:a + x.shape[1], c:c + x.shape[2], g * cig:(g + 1) * cig]
        out[..., g * cog:(g + 1) * cog] += patch @ k[a, c, :, g * cog:(g + 1) * cog]
  return out


def test_squeeze_excitation_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 4, 5, 32)).astype(np.float32)
  se = ca.SqueezeExcitation(reduction=16)
  v = jax.jit(se.init)(jax.random.PRNGKey(0), x)
  p = _np(v["params"])
  z = x.mean((1, 2))
  s = _sig(_relu(z @ p["fc1"]["kernel"] + p["fc1"]["bias"]) @ p["fc2"]["kernel"] + p["fc2"]["bias"])
  assert p["fc1"]["kernel"].shape == (32, 2)                                  # C / r
  want = x * s[:, None, None]
  np.testing.assert_allclose(np.asarray(jax.jit(se.apply)(v, x)), want, rtol=1e-5, atol=1e-6)
  y16 = jax.jit(ca.SqueezeExcitation(reduction=16, dtype=jnp.bfloat16).apply)(
      v, x.astype(jnp.bfloat16))
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale


def test_cbam_matches_numpy():
  x = np.random.default_rng(1).normal(size=(2, 6, 7, 16)).astype(np.float32)
  cbam = ca.CBAM(reduction=4)
  v = jax.jit(cbam.init)(jax.random.PRNGKey(1), x)
  p = _np(v["params"])
  fc = lambda z, n: z @ p[n]["kernel"] + p[n]["bias"]
  mlp = lambda z: fc(_relu(fc(z, "fc1")), "fc2")
  m_c = _sig(mlp(x.mean((1, 2))) + mlp(x.max((1, 2))))
  x1 = x * m_c[:, None, None]
  pools = np.stack([x1.mean(-1), x1.max(-1)], -1)
  m_s = _sig(_conv_same(pools, p["spatial"]["kernel"]))
  y, st = jax.jit(partial(cbam.apply, mutable=["intermediates"]))(v, x)
  np.testing.assert_allclose(np.asarray(y), x1 * m_s, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(st["intermediates"]["attention_weights"][0]),
                             m_s[..., 0], rtol=1e-5, atol=1e-6)


def test_split_attention_matches_numpy():
  rng = np.random.default_rng(2)
  radix, card, ch = 2, 2, 4
  x = rng.normal(size=(2, 5, 5, 8)).astype(np.float32)
  sa = ca.SplitAttention(channels=ch, radix=radix, cardinality=card, min_inter=8)
  v = jax.jit(sa.init)(jax.random.PRNGKey(2), x)
  # non-trivial running statistics and affine parameters in both BatchNorms
  v = jax.tree_util.tree_map(lambda a: a + rng.uniform(0.1, 0.5, a.shape).astype(a.dtype), v)
  y, st = jax.jit(partial(sa.apply, mutable=["intermediates"]))(v, x)
  p, s = _np(v["params"]), _np(v["batch_stats"])
  bn = lambda z, n: (z - s[n]["mean"]) / np.sqrt(s[n]["var"] + 1e-5) * p[n]["scale"] + p[n]["bias"]
  u = _relu(bn(_conv_same(x, p["conv"]["kernel"], groups=card * radix), "bn0"))
  splits = [u[..., r * ch:(r + 1) * ch] for r in range(radix)]                 # U_r
  gap = sum(splits).mean((1, 2))[:, None, None]
  z = _relu(bn(_conv_same(gap, p["fc1"]["kernel"], groups=card) + p["fc1"]["bias"], "bn1"))
  logits = (_conv_same(z, p["fc2"]["kernel"], groups=card) + p["fc2"]["bias"])[:, 0, 0]
  # logits of cardinal group k, split r, channel j sit at k*(radix*c') + r*c' + j
  cp = ch // card
  a = np.zeros((2, radix, ch))
  for k in range(card):
    grp = logits[:, k * radix * cp:(k + 1) * radix * cp].reshape(2, radix, cp)
    e = np.exp(grp - grp.max(1, keepdims=True))
    a[:, :, k * cp:(k + 1) * cp] = e / e.sum(1, keepdims=True)
  want = sum(a[:, r, None, None] * splits[r] for r in range(radix))
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
  w = np.asarray(st["intermediates"]["attention_weights"][0])
  np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)                       # softmax over splits
