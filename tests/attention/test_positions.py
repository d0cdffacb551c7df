"""Position schemes against numpy transcriptions of their papers' formulas."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import positions as pos


def test_sinusoidal_matches_paper_formula():
  length, d = 16, 12
  ref = np.zeros((length, d))
  for p in range(length):
    for i in range(d // 2):
      ref[p, 2 * i] = math.sin(p / 10000 ** (2 * i / d))
      ref[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / d))
  np.testing.assert_allclose(pos.sinusoidal_positions(length, d), ref, atol=1e-6)
  concat = np.concatenate([ref[:, 0::2], ref[:, 1::2]], axis=1)
  np.testing.assert_allclose(pos.sinusoidal_positions(length, d, interleave=False), concat,
                             atol=1e-6)


def test_learned_embedding_adds_table_rows():
  m = pos.LearnedPositionalEmbedding(max_len=10)
  x = np.ones((2, 4, 6), np.float32)
  params = m.init(jax.random.key(0), x)
  table = np.asarray(params["params"]["embedding"])
  np.testing.assert_allclose(m.apply(params, x, offset=3), x + table[3:7], atol=1e-7)


def np_rope(x, positions, pairing, base=10000.0):
  """Multiply each head vector by the block-diagonal rotation R_m of RoFormer Eq. 13-15."""
  b, t, n, h = x.shape
  out = np.zeros_like(x, dtype=np.float64)
  pairs = ([(2 * i, 2 * i + 1) for i in range(h // 2)] if pairing == "adjacent"
           else [(i, i + h // 2) for i in range(h // 2)])
  for ti in range(t):
    rot = np.zeros((h, h))
    for i, (a, c) in enumerate(pairs):
      ang = positions[ti] * base ** (-2 * i / h)
      rot[a, a], rot[a, c], rot[c, a], rot[c, c] = (math.cos(ang), -math.sin(ang),
                                                    math.sin(ang), math.cos(ang))
    out[:, ti] = np.einsum("ij,bnj->bni", rot, x[:, ti])
  return out


@pytest.mark.parametrize("pairing", ["adjacent", "half"])
def test_rope_is_the_numpy_rotation_and_relative(pairing):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 6, 3, 8)).astype(np.float32)
  p = np.array([0, 1, 2, 5, 9, 40])
  f = jax.jit(lambda x, p: pos.apply_rope(x, p, pairing=pairing))
  np.testing.assert_allclose(f(x, p), np_rope(x, p, pairing), atol=1e-5)
  # <R_m q, R_n k> depends only on m - n (Eq. 16): shift every position by 7.
  q, k = x[:, :, :1], x[:, :, 1:2]
  dots = lambda s: np.einsum("btnh,bsnh->bts", f(q, p + s), f(k, p + s))
  np.testing.assert_allclose(dots(0), dots(7), atol=1e-4)


def np_t5_bucket(rel, bidirectional, num_buckets=32, max_distance=128):
  """Scalar transcription of the Mesh-TensorFlow bucket rule for one offset key - query."""
  ret, n = 0, -rel
  if bidirectional:
    num_buckets //= 2
    ret += num_buckets if n < 0 else 0
    n = abs(n)
  else:
    n = max(n, 0)
  max_exact = num_buckets // 2
  if n < max_exact:
    return ret + n
  val = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact)
                        * (num_buckets - max_exact))
  return ret + min(val, num_buckets - 1)


def test_t5_buckets_and_bias():
  rel = np.arange(-300, 300)
  bucket = jax.jit(pos.t5_relative_position_bucket, static_argnames="bidirectional")
  for bidirectional in (True, False):
    got = np.asarray(bucket(jnp.asarray(rel, jnp.int32), bidirectional=bidirectional))
    ref = np.array([np_t5_bucket(r, bidirectional) for r in rel])
    np.testing.assert_array_equal(got, ref)
  causal = np.array([np_t5_bucket(r, False) for r in rel])
  assert np.all(causal[rel >= 0] == 0) and causal.max() == 31
  mod = pos.T5RelativePositionBias(num_heads=3, bidirectional=True)
  params = mod.init(jax.random.key(0), 5, 7)
  bias = np.asarray(mod.apply(params, 5, 7))
  table = np.asarray(params["params"]["rel_embedding"])
  for i in range(5):
    for j in range(7):
      np.testing.assert_allclose(bias[0, :, i, j], table[np_t5_bucket(j - i, True)])


def test_alibi_slopes_closed_form_and_bias():
  np.testing.assert_allclose(pos.alibi_slopes(8), [2.0 ** -h for h in range(1, 9)], rtol=1e-6)
  # 12 heads: the 8-head slopes, then every other slope of the 16-head sequence.
  ref12 = [2.0 ** -h for h in range(1, 9)] + [2.0 ** -(h + 0.5) for h in range(0, 4)]
  np.testing.assert_allclose(pos.alibi_slopes(12), ref12, rtol=1e-6)
  b = np.asarray(pos.alibi_bias(4, 5, 5))
  for h, m in enumerate(pos.alibi_slopes(4)):
    for i in range(5):
      for j in range(i + 1):
        assert b[0, h, i, j] == pytest.approx(-m * (i - j))
  assert np.allclose(pos.alibi_bias(4, 5, 5, causal=False)[0, :, 0, 3], -3 * pos.alibi_slopes(4))
