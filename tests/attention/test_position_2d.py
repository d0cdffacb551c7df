"""2-D relative position bias, PEG and GPSA against numpy transcriptions and invariants."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import position_2d as p2


def _softmax(x, axis=-1):
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def test_relative_index_is_a_bijection_on_offsets():
  mh, mw = 3, 4
  idx = p2.relative_position_index((mh, mw))
  coords = [(i // mw, i % mw) for i in range(mh * mw)]
  by_offset = {}
  for i, (yi, xi) in enumerate(coords):
    for j, (yj, xj) in enumerate(coords):
      off = (yi - yj, xi - xj)
      by_offset.setdefault(off, set()).add(int(idx[i, j]))
  assert all(len(s) == 1 for s in by_offset.values())           # same offset -> same row
  rows = [next(iter(s)) for s in by_offset.values()]
  assert len(set(rows)) == len(rows) == (2 * mh - 1) * (2 * mw - 1)  # distinct offsets
  assert min(rows) == 0 and max(rows) == (2 * mh - 1) * (2 * mw - 1) - 1

  table = np.random.default_rng(0).normal(size=((2 * mh - 1) * (2 * mw - 1), 2))
  bias = np.asarray(p2.relative_position_bias(jnp.asarray(table), (mh, mw)))
  assert bias.shape == (2, mh * mw, mh * mw)
  np.testing.assert_allclose(bias, table[idx].transpose(2, 0, 1), rtol=1e-6)


def _depthwise_same(x, k, b):
  """numpy depthwise conv, stride 1, zero 'SAME' padding. x [B,H,W,C], k [kh,kw,1,C]."""
  kh, kw = k.shape[:2]
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  out = np.zeros_like(x)
  for a in range(kh):
    for c in range(kw):
      out += xp[:, a:a + x.shape[1], c:c + x.shape[2]] * k[a, c, 0]
  return out + b


def test_peg_matches_numpy_and_keeps_class_token():
  rng = np.random.default_rng(1)
  b, h, w, c = 2, 4, 5, 6
  x = rng.normal(size=(b, 1 + h * w, c)).astype(np.float32)
  peg = p2.PEG()
  fix = dict(hw=(h, w), num_prefix_tokens=1)
  params = jax.jit(partial(peg.init, **fix))(jax.random.PRNGKey(0), x)
  params = jax.tree_util.tree_map(lambda p: p + 0.1, params)  # non-zero bias
  y = np.asarray(jax.jit(partial(peg.apply, **fix))(params, x))
  k = np.asarray(params["params"]["proj"]["kernel"])
  bias = np.asarray(params["params"]["proj"]["bias"])
  grid = x[:, 1:].reshape(b, h, w, c)
  want = (grid + _depthwise_same(grid, k, bias)).reshape(b, h * w, c)
  np.testing.assert_array_equal(y[:, :1], x[:, :1])
  np.testing.assert_allclose(y[:, 1:], want, rtol=1e-5, atol=1e-5)


def test_gpsa_positional_attention_peaks_at_assigned_offset():
  heads, hw = 9, (5, 5)
  gpsa = p2.GPSA(num_heads=heads, locality_strength=1.0)
  x = jnp.zeros((1, 25, 18))
  params = jax.jit(partial(gpsa.init, hw=hw))(jax.random.PRNGKey(0), x)["params"]
  v_pos = np.asarray(params["pos_proj"])                    # [3, heads]
  ys, xs = np.divmod(np.arange(25), 5)
  q = 12                                                     # centre token (2, 2)
  # r_qj = (dx, dy, dx^2 + dy^2) for key j relative to query q, scored by v_pos (ConViT)
  dx, dy = xs - xs[q], ys - ys[q]
  scores = np.stack([dx, dy, dx ** 2 + dy ** 2], -1) @ v_pos  # [25, heads]
  peaks = {(int(dx[j]), int(dy[j])) for j in scores.argmax(0)}
  assert peaks == {(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)}  # one offset per head
  # each head's own offset wins: the key at q + Delta_h is the argmax of head h
  for h, (ox, oy) in enumerate(p2.gpsa_offsets(heads)):
    j = int(scores[:, h].argmax())
    assert (dx[j], dy[j]) == (ox, oy)
  # the value projection starts as the identity
  np.testing.assert_array_equal(np.asarray(params["v"]["kernel"]), np.eye(18))


def test_gpsa_matches_numpy():
  rng = np.random.default_rng(2)
  heads, (h, w), c = 4, (3, 4), 8
  x = rng.normal(size=(2, h * w, c)).astype(np.float32)
  gpsa = p2.GPSA(num_heads=heads, use_local_init=False)
  params = jax.jit(partial(gpsa.init, hw=(h, w)))(jax.random.PRNGKey(1), x)["params"]
  params = dict(params, gating_param=jnp.asarray([-2.0, 0.0, 1.0, 3.0]))
  y, state = jax.jit(partial(gpsa.apply, hw=(h, w), mutable=["intermediates"]))(
      {"params": params}, x)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
  qk = x @ p["qk"]["kernel"]
  q = qk[..., :c].reshape(2, h * w, heads, -1)
  k = qk[..., c:].reshape(2, h * w, heads, -1)
  v = (x @ p["v"]["kernel"]).reshape(2, h * w, heads, -1)
  ys, xs = np.divmod(np.arange(h * w), w)
  dx, dy = xs[None] - xs[:, None], ys[None] - ys[:, None]
  rel = np.stack([dx, dy, dx ** 2 + dy ** 2], -1)
  pos = _softmax(np.einsum("qkr,rh->hqk", rel, p["pos_proj"]))
  content = _softmax(np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(c // heads))
  g = 1 / (1 + np.exp(-p["gating_param"]))[None, :, None, None]
  attn = (1 - g) * content + g * pos
  want = np.einsum("bhqk,bkhd->bqhd", attn, v).reshape(2, h * w, c)
  want = want @ p["proj"]["kernel"] + p["proj"]["bias"]
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
  weights = state["intermediates"]["attention_weights"][0]
  np.testing.assert_allclose(np.asarray(weights), attn, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-6)
  # bf16 forward stays within 1e-2 of the fp32 numpy reference
  y16 = p2.GPSA(num_heads=heads, use_local_init=False, dtype=jnp.bfloat16).apply(
      {"params": params}, x.astype(jnp.bfloat16), hw=(h, w))
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale
