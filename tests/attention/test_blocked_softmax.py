"""The blocked online-softmax kernel against a float64 numpy transcription of softmax
attention and of its gradients (dV = P^T dO, dS = P (dO V^T - rowsum(dO O)), dQ = dS K s,
dK = dS^T Q s), with tiles small enough that every case spans several blocks."""
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import blocked_softmax as bs
from lib.attention import dot_product as dp


def np_reference(q, k, v, dout, causal=False, q_len=None, kv_len=None):
  """(out, dq, dk, dv) in float64; kv head of query head n is n // (N // K); rows with no
  visible key and padded queries give 0 (and no gradient)."""
  q, k, v, dout = (np.asarray(a, np.float64) for a in (q, k, v, dout))
  b_, t, n, h = q.shape
  s, kh = k.shape[1], k.shape[2]
  g, scale = n // kh, 1.0 / np.sqrt(h)
  out, dq = np.zeros_like(q), np.zeros_like(q)
  dk, dv = np.zeros_like(k), np.zeros_like(v)
  i, j = np.arange(t)[:, None], np.arange(s)[None, :]
  for b in range(b_):
    mask = np.ones((t, s), bool)
    if causal:
      mask &= j <= i
    if kv_len is not None:
      mask &= j < kv_len[b]
    if q_len is not None:
      mask &= i < q_len[b]
    for head in range(n):
      kk, vv = k[b, :, head // g], v[b, :, head // g]
      logits = np.where(mask, q[b, :, head] @ kk.T * scale, -np.inf)
      row_max = np.max(logits, axis=1, keepdims=True)
      e = np.where(mask, np.exp(logits - np.where(np.isfinite(row_max), row_max, 0.0)), 0.0)
      denom = e.sum(axis=1, keepdims=True)
      p = e / np.where(denom > 0, denom, 1.0)
      o = p @ vv
      do = dout[b, :, head]
      ds = p * (do @ vv.T - np.sum(do * o, axis=1, keepdims=True))
      out[b, :, head] = o
      dq[b, :, head] = ds @ kk * scale
      dk[b, :, head // g] += ds.T @ q[b, :, head] * scale
      dv[b, :, head // g] += p.T @ do
  return out, dq, dk, dv


def random_inputs(seed, b, t, s, n, kh, h, dtype=np.float32):
  rng = np.random.default_rng(seed)
  return tuple(rng.standard_normal(shape).astype(dtype)
               for shape in ((b, t, n, h), (b, s, kh, h), (b, s, kh, h), (b, t, n, h)))


def value_and_grads(fn):
  """jit(q, k, v, dout) -> (out, dq, dk, dv) with dout the output cotangent."""
  def run(q, k, v, dout):
    out, vjp = jax.vjp(fn, q, k, v)
    return (out,) + vjp(dout)
  return jax.jit(run)


CASES = {   # name: (b, t, s, n, kv heads, h, block_q, block_k, causal, q_lengths, kv_lengths)
    "full": (2, 48, 48, 2, 2, 8, 16, 16, False, None, None),
    "causal": (1, 64, 64, 4, 4, 8, 16, 16, True, None, None),
    "causal_gqa_uneven_blocks": (2, 50, 50, 4, 2, 8, 16, 8, True, None, None),
    "causal_tall_blocks": (1, 40, 40, 2, 1, 8, 8, 32, True, None, None),
    "cross_padding": (2, 37, 53, 4, 1, 16, 16, 16, False, [30, 37], [53, 20]),
    "causal_padding": (2, 40, 40, 2, 2, 8, 8, 8, True, [40, 25], [33, 40]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_numpy(name):
  b, t, s, n, kh, h, block_q, block_k, causal, q_len, kv_len = CASES[name]
  q, k, v, dout = random_inputs(len(name), b, t, s, n, kh, h)
  q_len = None if q_len is None else np.array(q_len, np.int32)
  kv_len = None if kv_len is None else np.array(kv_len, np.int32)
  fn = functools.partial(bs.blocked_attention, is_causal=causal, q_lengths=q_len,
                         kv_lengths=kv_len, block_q=block_q, block_k=block_k)
  got = value_and_grads(fn)(q, k, v, dout)
  ref = np_reference(q, k, v, dout, causal, q_len, kv_len)
  for what, a, r in zip(("out", "dq", "dk", "dv"), got, ref):
    np.testing.assert_allclose(a, r, atol=1e-5, rtol=1e-5, err_msg=what)


def test_equals_explicit_path_through_the_dispatch():
  q, k, v, dout = random_inputs(1, 2, 40, 40, 4, 2, 8)
  kw = dict(is_causal=True, kv_lengths=np.array([40, 31], np.int32))
  got = value_and_grads(functools.partial(dp.dot_product_attention, implementation="blocked",
                                          **kw))(q, k, v, dout)
  ref = value_and_grads(functools.partial(dp.dot_product_attention, implementation="explicit",
                                          **kw))(q, k, v, dout)
  for a, r in zip(got, ref):
    np.testing.assert_allclose(a, r, atol=1e-5, rtol=1e-5)


def test_rows_without_keys_are_zero_with_finite_gradients():
  q, k, v, dout = random_inputs(2, 2, 24, 24, 2, 2, 8)
  fn = functools.partial(bs.blocked_attention, kv_lengths=np.array([0, 9], np.int32),
                         q_lengths=np.array([24, 5], np.int32), block_q=8, block_k=8)
  out, dq, dk, dv = (np.asarray(a) for a in value_and_grads(fn)(q, k, v, dout))
  assert np.all(out[0] == 0) and np.all(out[1, 5:] == 0) and np.any(out[1, :5] != 0)
  assert np.all(dq[0] == 0) and np.all(dk[0] == 0) and np.all(dv[0] == 0)
  assert np.all(dk[1, 9:] == 0) and all(np.all(np.isfinite(g)) for g in (dq, dk, dv))


def test_causal_gradient_wrt_future_is_exactly_zero():
  q, k, v, _ = random_inputs(3, 1, 32, 32, 2, 2, 8)
  t = 11
  fn = functools.partial(bs.blocked_attention, is_causal=True, block_q=8, block_k=8)
  grads = jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a)[:, t]), argnums=(0, 1, 2)))(q, k, v)
  for g in grads:
    assert np.all(np.asarray(g)[:, t + 1:] == 0) and np.any(np.asarray(g)[:, :t + 1] != 0)


def test_batch_chunks_give_the_same_result(monkeypatch):
  q, k, v, dout = random_inputs(4, 4, 24, 24, 2, 2, 8)
  fn = functools.partial(bs.blocked_attention, is_causal=True,
                         kv_lengths=np.array([24, 3, 17, 0], np.int32), block_q=8, block_k=8)
  whole = value_and_grads(fn)(q, k, v, dout)
  monkeypatch.setattr(bs, "TILE_ELEMENTS", 2 * 8 * 8)          # one batch element per step
  assert bs._batch_chunk(4, 2 * 8 * 8) == 1
  chunked = value_and_grads(fn)(q, k, v, dout)
  for a, r in zip(chunked, whole):
    np.testing.assert_allclose(a, r, atol=1e-6)


def test_bfloat16_accumulates_in_float32():
  q, k, v, dout = random_inputs(5, 1, 64, 64, 2, 2, 16)
  fn = functools.partial(bs.blocked_attention, is_causal=True, block_q=16, block_k=16)
  got = value_and_grads(fn)(*(jnp.asarray(a, jnp.bfloat16) for a in (q, k, v, dout)))
  ref = np_reference(*(np.asarray(jnp.asarray(a, jnp.bfloat16), np.float32)
                       for a in (q, k, v, dout)), causal=True)
  assert all(a.dtype == jnp.bfloat16 for a in got)
  for a, r in zip(got, ref):
    np.testing.assert_allclose(np.asarray(a, np.float32), r, atol=2e-2 * np.abs(r).max())


def test_dispatch_picks_blocked_on_cpu_for_large_logits(monkeypatch):
  big = jnp.zeros((1, 1024, 8, 64))                       # 8 x 1024 x 1024 logits >= 2^22
  small = jnp.zeros((1, 512, 8, 64))
  assert jax.default_backend() == "cpu"                    # conftest: simulated CPU devices
  assert dp.chosen_implementation(big) == "blocked"
  assert dp.chosen_implementation(small) != "blocked"
  assert dp.chosen_implementation(big, kv_len=16) != "blocked"   # short cross attention
  assert dp.chosen_implementation(jnp.zeros((64, 196, 12, 64)), kv_len=49) == "xla"  # HiLo
  assert dp.chosen_implementation(jnp.zeros((16, 196, 12, 64))) == "blocked"
  assert dp.chosen_implementation(big, has_dense_mask=True) != "blocked"
  assert dp.chosen_implementation(big, has_bias=True) != "blocked"
  assert dp.chosen_implementation(big, return_weights=True) == "explicit"
  assert dp.chosen_implementation(small, implementation="blocked") == "blocked"
  for forced in ("xla", "explicit"):
    assert dp.chosen_implementation(big, implementation=forced) == forced
  monkeypatch.setattr(dp, "jax", type("J", (), {"default_backend": staticmethod(lambda: "gpu")}))
  assert dp.chosen_implementation(big.astype(jnp.bfloat16)) == "cudnn"
  assert dp.chosen_implementation(big) == "xla"               # GPU fp32: unchanged
  with pytest.raises(ValueError, match="dense"):
    dp.chosen_implementation(big, implementation="dense")


def test_blocked_path_refuses_dense_masks():
  q, k, v, _ = random_inputs(6, 1, 8, 8, 2, 2, 8)
  with pytest.raises(ValueError, match="causal and length masks only"):
    dp.dot_product_attention(q, k, v, mask=np.ones((8, 8), bool), implementation="blocked")


def test_no_retrace_and_one_log_line(caplog):
  q, k, v, _ = random_inputs(7, 1, 32, 32, 2, 2, 8)
  traces = []

  @jax.jit
  def f(q, k, v):
    traces.append(1)
    return dp.dot_product_attention(q, k, v, is_causal=True, implementation="blocked")

  with caplog.at_level(logging.INFO, logger="lib.attention.dot_product"):
    for i in range(3):
      f(q + i, k, v).block_until_ready()
  assert len(traces) == 1
  assert sum("blocked path" in r.getMessage() for r in caplog.records) == 1


def test_batch_chunks_keep_a_sharded_batch_local(monkeypatch):
  """Under an Auto mesh over the 8 simulated devices, the loop over batch chunks runs over
  each shard's own elements: no collective in the compiled gradient, same values."""
  from jax.sharding import AxisType, NamedSharding, PartitionSpec
  devices = jax.devices()
  assert len(devices) == 8                                    # conftest
  q, k, v, dout = random_inputs(8, 16, 32, 32, 2, 2, 8)
  fn = functools.partial(bs.blocked_attention, is_causal=True, block_q=8, block_k=8)
  monkeypatch.setattr(bs, "TILE_ELEMENTS", 1)                 # force the chunked loop
  reference = value_and_grads(fn)(q, k, v, dout)
  mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,), devices=devices)
  batch = NamedSharding(mesh, PartitionSpec("data"))
  with jax.set_mesh(mesh):
    assert bs._batch_chunk(16, 1) == 8
    step = jax.jit(value_and_grads(fn), in_shardings=batch, out_shardings=batch)
    hlo = step.lower(q, k, v, dout).compile().as_text()
    got = step(q, k, v, dout)
  for collective in ("all-gather", "all-reduce", "all-to-all", "collective-permute"):
    assert collective not in hlo
  for a, r in zip(got, reference):
    np.testing.assert_allclose(a, r, atol=1e-6)


def test_explicitly_sharded_inputs_keep_the_xla_path():
  from jax.sharding import AxisType, NamedSharding, PartitionSpec
  mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,), devices=jax.devices())
  x = jax.device_put(jnp.zeros((8, 1024, 8, 64)), NamedSharding(mesh, PartitionSpec("data")))
  with jax.set_mesh(mesh):
    paths = []
    jax.jit(lambda x: paths.append(dp.chosen_implementation(x)) or x).lower(x)
  assert paths == ["xla"] and dp.chosen_implementation(jnp.zeros((8, 1024, 8, 64))) == "blocked"
