"""lib/nn/quantizers (VQ, EMA-VQ, FSQ, LFQ) against numpy transcriptions of their formulas."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.errors import ConfigError
from lib.nn.quantizers import (FiniteScalarQuantizer, LookupFreeQuantizer, VectorQuantizer,
                               VectorQuantizerEMA)
from lib.nn.quantizers.code_statistics import code_histogram_metrics


def _np_nearest(rows, codebook):
  d = ((rows[:, None, :] - codebook[None, :, :]) ** 2).sum(-1)
  return d.argmin(-1)


def _np_usage_perplexity(indices, k):
  counts = np.bincount(np.asarray(indices).reshape(-1), minlength=k).astype(np.float64)
  p = counts / counts.sum()
  nz = p[p > 0]
  return (counts > 0).mean(), np.exp(-(nz * np.log(nz)).sum())


# ---------------------------------------------------------------- histogram metrics

def test_usage_and_perplexity_of_a_known_histogram():
  m = code_histogram_metrics(jnp.array([[0, 0], [1, 2]]), 4)
  np.testing.assert_allclose(m["codebook_usage"], 0.75)
  np.testing.assert_allclose(m["perplexity"], np.exp(-(0.5 * np.log(0.5) + 0.5 * np.log(0.25))),
                             rtol=1e-6)


def _make(name):
  if name == "vq":
    return VectorQuantizer(num_codes=16), 3, 16
  if name == "ema":
    return VectorQuantizerEMA(num_codes=16), 3, 16
  if name == "fsq":
    return FiniteScalarQuantizer(levels=(3, 4)), 2, 12
  return LookupFreeQuantizer(bits=4), 4, 16


@pytest.mark.parametrize("name", ["vq", "ema", "fsq", "lfq"])
def test_aux_usage_and_perplexity_equal_numpy_histograms(name):
  module, dim, k = _make(name)
  z = jax.random.normal(jax.random.key(0), (2, 4, 4, dim))
  variables = module.init(jax.random.key(1), z)
  q, aux = module.apply(variables, z)
  assert q.shape == z.shape and aux["indices"].shape == (2, 4, 4)
  assert aux["indices"].dtype == jnp.int32
  usage, perplexity = _np_usage_perplexity(aux["indices"], k)
  np.testing.assert_allclose(aux["codebook_usage"], usage, rtol=1e-6)
  np.testing.assert_allclose(aux["perplexity"], perplexity, rtol=1e-5)
  # indices_to_codes decodes the tokens back to the (forward value of the) quantized vectors
  codes = module.apply(variables, aux["indices"], method=type(module).indices_to_codes)
  np.testing.assert_allclose(codes, q, atol=1e-6)


# ---------------------------------------------------------------- VQ

@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (3, 5, 3)])
def test_vq_nearest_code_and_losses_match_numpy(shape):
  vq = VectorQuantizer(num_codes=8, beta=0.25)
  z = jax.random.normal(jax.random.key(0), shape)
  variables = vq.init(jax.random.key(1), z)
  q, aux = vq.apply(variables, z)
  codebook = np.asarray(variables["params"]["codebook"])
  rows = np.asarray(z).reshape(-1, shape[-1])
  idx = _np_nearest(rows, codebook)
  np.testing.assert_array_equal(np.asarray(aux["indices"]).reshape(-1), idx)
  e = codebook[idx]
  np.testing.assert_allclose(np.asarray(q).reshape(-1, shape[-1]), e, atol=1e-6)
  np.testing.assert_allclose(aux["codebook_loss"], ((rows - e) ** 2).mean(), rtol=1e-5)
  np.testing.assert_allclose(aux["commitment_loss"], 0.25 * ((rows - e) ** 2).mean(), rtol=1e-5)
  np.testing.assert_allclose(aux["loss"], 1.25 * ((rows - e) ** 2).mean(), rtol=1e-5)


def test_vq_straight_through_is_identity_on_z():
  vq = VectorQuantizer(num_codes=4)
  z = jax.random.normal(jax.random.key(0), (1, 2, 3))
  variables = vq.init(jax.random.key(1), z)
  jac = jax.jacrev(lambda z: vq.apply(variables, z)[0])(z).reshape(6, 6)
  np.testing.assert_allclose(jac, np.eye(6), atol=1e-6)


def test_vq_codebook_loss_moves_the_codebook_only_and_commitment_the_encoder_only():
  vq = VectorQuantizer(num_codes=4, beta=0.25)
  z = jax.random.normal(jax.random.key(0), (2, 5, 3))
  variables = vq.init(jax.random.key(1), z)

  def term(name):
    return jax.grad(lambda p, z: vq.apply({"params": p}, z)[1][name], argnums=(0, 1))(
        variables["params"], z)

  rows = np.asarray(z).reshape(-1, 3)
  codebook = np.asarray(variables["params"]["codebook"])
  idx = _np_nearest(rows, codebook)
  n_el = rows.size
  expected_codebook_grad = np.zeros_like(codebook)       # d/de_k mean((z - e)^2)
  for i, k in enumerate(idx):
    expected_codebook_grad[k] += -2.0 * (rows[i] - codebook[k]) / n_el
  g_codebook, g_z = term("codebook_loss")
  np.testing.assert_allclose(g_codebook["codebook"], expected_codebook_grad, atol=1e-6)
  np.testing.assert_array_equal(g_z, np.zeros_like(z))
  g_codebook, g_z = term("commitment_loss")
  np.testing.assert_array_equal(g_codebook["codebook"], np.zeros_like(codebook))
  np.testing.assert_allclose(np.asarray(g_z).reshape(-1, 3),
                             0.25 * 2.0 * (rows - codebook[idx]) / n_el, atol=1e-6)


def test_vq_l2_normalized_codes_pick_the_most_cosine_similar_code():
  vq = VectorQuantizer(num_codes=8, l2_normalize=True)
  z = jax.random.normal(jax.random.key(0), (2, 6, 4)) * 5.0
  variables = vq.init(jax.random.key(1), z)
  q, aux = vq.apply(variables, z)
  codebook = np.asarray(variables["params"]["codebook"])
  rows = np.asarray(z).reshape(-1, 4)
  cosine = (rows / np.linalg.norm(rows, axis=-1, keepdims=True)) @ (
      codebook / np.linalg.norm(codebook, axis=-1, keepdims=True)).T
  np.testing.assert_array_equal(np.asarray(aux["indices"]).reshape(-1), cosine.argmax(-1))
  np.testing.assert_allclose(np.linalg.norm(np.asarray(q), axis=-1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- EMA-VQ

def _np_ema_step(rows, codebook, cluster_size, embed_sum, decay, eps):
  k = codebook.shape[0]
  idx = _np_nearest(rows, codebook)
  counts = np.zeros(k)
  sums = np.zeros_like(codebook)
  for i, j in enumerate(idx):
    counts[j] += 1
    sums[j] += rows[i]
  cluster_size = decay * cluster_size + (1 - decay) * counts
  embed_sum = decay * embed_sum + (1 - decay) * sums
  n = cluster_size.sum()
  smoothed = (cluster_size + eps) / (n + k * eps) * n
  return idx, cluster_size, embed_sum, embed_sum / smoothed[:, None]


def test_ema_vq_one_step_matches_numpy_ema_formulas():
  vq = VectorQuantizerEMA(num_codes=6, decay=0.9, epsilon=1e-5, restart_threshold=0.0)
  z = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
  variables = vq.init(jax.random.key(1), z)
  stats = {k: np.asarray(v) for k, v in variables["quantizer_stats"].items()}
  np.testing.assert_array_equal(stats["cluster_size"], np.ones(6))
  np.testing.assert_array_equal(stats["embed_sum"], stats["codebook"])
  step = jax.jit(lambda v, z: vq.apply(v, z, update=True, mutable=["quantizer_stats"],
                                       rngs={"quantizer": jax.random.key(2)}))
  (q, aux), new = step(variables, z)
  rows = np.asarray(z, np.float64).reshape(-1, 3)
  idx, cluster_size, embed_sum, codebook = _np_ema_step(
      rows, stats["codebook"], stats["cluster_size"], stats["embed_sum"], 0.9, 1e-5)
  np.testing.assert_array_equal(np.asarray(aux["indices"]).reshape(-1), idx)
  new = new["quantizer_stats"]
  np.testing.assert_allclose(new["cluster_size"], cluster_size, rtol=1e-5)
  np.testing.assert_allclose(new["embed_sum"], embed_sum, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new["codebook"], codebook, rtol=1e-4, atol=1e-6)
  # z_q is the pre-update code; the objective is the commitment loss only
  e = stats["codebook"][idx]
  np.testing.assert_allclose(np.asarray(q).reshape(-1, 3), e, atol=1e-6)
  np.testing.assert_allclose(aux["loss"], 0.25 * ((rows - e) ** 2).mean(), rtol=1e-5)
  assert "codebook_loss" not in aux
  # without update the statistics stay as they were
  _, same = vq.apply(variables, z, mutable=["quantizer_stats"])
  for k, v in stats.items():
    np.testing.assert_array_equal(same["quantizer_stats"][k], v)


def test_ema_vq_restarts_a_dead_code_to_a_batch_vector():
  vq = VectorQuantizerEMA(num_codes=4, decay=0.99, restart_threshold=1.0)
  z = jax.random.normal(jax.random.key(0), (2, 8, 2)) * 0.1
  variables = vq.init(jax.random.key(1), z)
  codebook = np.array([[0.0, 0.0], [50.0, 50.0], [-50.0, 50.0], [50.0, -50.0]], np.float32)
  stats = {"codebook": codebook, "cluster_size": np.ones(4, np.float32),
           "embed_sum": codebook.copy()}
  (_, aux), new = vq.apply({"quantizer_stats": stats}, z, update=True,
                           mutable=["quantizer_stats"], rngs={"quantizer": jax.random.key(3)})
  new = {k: np.asarray(v) for k, v in new["quantizer_stats"].items()}
  rows = np.asarray(z).reshape(-1, 2)
  assert np.all(np.asarray(aux["indices"]) == 0)      # every row picks code 0
  assert float(aux["restarted_codes"]) == 3.0
  _, cluster_size, embed_sum, ema_codebook = _np_ema_step(
      rows.astype(np.float64), codebook, stats["cluster_size"], stats["embed_sum"], 0.99, 1e-5)
  # code 0 (N_0 = 0.99 + 0.16 >= 1) follows the EMA; codes 1-3 (N_k = 0.99 < 1) are restarted
  np.testing.assert_allclose(new["codebook"][0], ema_codebook[0], rtol=1e-5)
  np.testing.assert_allclose(new["cluster_size"][0], cluster_size[0], rtol=1e-6)
  for k in (1, 2, 3):
    distance_to_batch = np.abs(rows - new["codebook"][k]).sum(-1)
    assert distance_to_batch.min() == 0.0, f"code {k} is not a batch vector"
    np.testing.assert_allclose(new["cluster_size"][k], 1.0)
    np.testing.assert_allclose(new["embed_sum"][k], new["codebook"][k], rtol=1e-6)


def test_ema_vq_update_needs_the_mutable_collection():
  vq = VectorQuantizerEMA(num_codes=4)
  z = jnp.ones((1, 3, 2))
  variables = vq.init(jax.random.key(0), z)
  with pytest.raises(ConfigError, match="mutable"):
    vq.apply(variables, z, update=True, rngs={"quantizer": jax.random.key(1)})


# ---------------------------------------------------------------- FSQ

def _np_bound(z, levels, eps=1e-3):
  levels = np.asarray(levels, np.float64)
  half_l = (levels - 1) * (1 + eps) / 2
  offset = np.where(levels % 2 == 0, 0.5, 0.0)
  shift = np.arctanh(offset / half_l)
  return np.tanh(z + shift) * half_l - offset


def test_fsq_bound_matches_the_formula_in_numpy_and_is_zero_at_zero():
  levels = (8, 5, 4, 3)
  fsq = FiniteScalarQuantizer(levels=levels)
  z = np.random.default_rng(0).normal(size=(64, 4)) * 2.0
  got = fsq.apply({}, jnp.asarray(z, jnp.float32), method=FiniteScalarQuantizer.bound)
  np.testing.assert_allclose(got, _np_bound(z, levels), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      fsq.apply({}, jnp.zeros((1, 4)), method=FiniteScalarQuantizer.bound), 0.0, atol=1e-6)


def test_fsq_values_land_on_the_grid_of_each_level():
  levels = (8, 5, 4, 3)                        # even and odd levels
  fsq = FiniteScalarQuantizer(levels=levels)
  z = jax.random.normal(jax.random.key(0), (4096, 4)) * 3.0
  zhat, aux = fsq.apply({}, z)
  for i, level in enumerate(levels):
    half_width = level // 2
    grid = np.arange(level) - half_width       # e.g. L=8: -4..3, L=5: -2..2
    values = np.asarray(zhat[:, i]) * half_width
    np.testing.assert_allclose(values, np.round(values), atol=1e-5)
    np.testing.assert_array_equal(np.unique(np.round(values)), grid)   # every value, only them
  expected = np.round(_np_bound(np.asarray(z, np.float64), levels))
  np.testing.assert_allclose(np.asarray(zhat) * np.array([4, 2, 2, 1]), expected, atol=1e-5)
  # the index is the mixed-radix number of the digits zhat * (L//2) + L//2
  digits = expected + np.array([4, 2, 2, 1])
  basis = np.array([1, 8, 40, 160])
  np.testing.assert_array_equal(aux["indices"], (digits * basis).sum(-1).astype(np.int64))


def test_fsq_indices_and_codes_round_trip_over_every_code():
  levels = (3, 4, 2)
  fsq = FiniteScalarQuantizer(levels=levels)
  all_indices = jnp.arange(24)
  codes = fsq.apply({}, all_indices, method=FiniteScalarQuantizer.indices_to_codes)
  assert codes.shape == (24, 3)
  assert len({tuple(c) for c in np.asarray(codes).round(6)}) == 24        # bijective
  grid = {c for c in itertools.product(*[(np.arange(L) - L // 2) / (L // 2) for L in levels])}
  assert {tuple(c) for c in np.asarray(codes, np.float64)} == grid
  back = fsq.apply({}, codes, method=FiniteScalarQuantizer.codes_to_indices)
  np.testing.assert_array_equal(back, all_indices)


def test_fsq_straight_through_gradient_is_the_bound_derivative():
  levels = (8, 5)
  fsq = FiniteScalarQuantizer(levels=levels)
  z = np.random.default_rng(1).normal(size=(1, 16, 2)).astype(np.float32)
  g = jax.grad(lambda z: fsq.apply({}, z)[0].sum())(jnp.asarray(z))
  levels_np = np.asarray(levels, np.float64)
  half_l = (levels_np - 1) * 1.001 / 2
  shift = np.arctanh(np.where(levels_np % 2 == 0, 0.5, 0.0) / half_l)
  expected = (1 - np.tanh(z + shift) ** 2) * half_l / (levels_np // 2)
  np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)


def test_fsq_bfloat16_input_gives_the_float32_indices():
  fsq = FiniteScalarQuantizer(levels=(8, 5, 5, 5))
  z = (jax.random.normal(jax.random.key(0), (4, 64, 4)) * 2.0).astype(jnp.bfloat16)
  zhat16, aux16 = fsq.apply({}, z)
  zhat32, aux32 = fsq.apply({}, z.astype(jnp.float32))
  assert zhat16.dtype == jnp.bfloat16 and aux16["indices"].dtype == jnp.int32
  assert int(aux32["indices"].max()) > 256          # beyond bf16's consecutive integers
  np.testing.assert_array_equal(aux16["indices"], aux32["indices"])
  np.testing.assert_array_equal(zhat16, zhat32.astype(jnp.bfloat16))


def test_fsq_rejects_a_channel_count_that_does_not_match_levels():
  with pytest.raises(ConfigError, match="levels"):
    FiniteScalarQuantizer(levels=(8, 5)).apply({}, jnp.zeros((1, 4, 3)))


# ---------------------------------------------------------------- LFQ

def _np_lfq_codebook(bits):
  """Row k: bit i of k (weight 2^i) mapped to {-1, 1}."""
  return np.array([[1.0 if (k // 2 ** i) % 2 else -1.0 for i in range(bits)]
                   for k in range(2 ** bits)])


def test_lfq_index_is_sum_of_bits_times_powers_of_two():
  lfq = LookupFreeQuantizer(bits=5)
  z = np.random.default_rng(0).normal(size=(2, 7, 5)).astype(np.float32)
  q, aux = lfq.apply({}, jnp.asarray(z))
  bits = (z > 0).astype(np.int64)
  np.testing.assert_array_equal(aux["indices"], (bits * 2 ** np.arange(5)).sum(-1))
  np.testing.assert_array_equal(q, np.where(z > 0, 1.0, -1.0))
  jac = jax.jacrev(lambda z: lfq.apply({}, z)[0])(jnp.asarray(z[:1, :1])).reshape(5, 5)
  np.testing.assert_allclose(jac, np.eye(5), atol=1e-6)                 # straight through


def test_lfq_entropy_term_equals_numpy():
  bits, inv_t, gamma = 4, 10.0, 0.7
  lfq = LookupFreeQuantizer(bits=bits, inv_temperature=inv_t, diversity_gamma=gamma,
                            entropy_loss_weight=0.1, commitment_weight=0.25)
  z = np.random.default_rng(0).normal(size=(3, 8, bits)) * 0.3
  _, aux = lfq.apply({}, jnp.asarray(z, jnp.float32))
  rows = z.reshape(-1, bits)
  codebook = _np_lfq_codebook(bits)
  logits = -((rows[:, None, :] - codebook[None]) ** 2).sum(-1) * inv_t
  prob = np.exp(logits - logits.max(-1, keepdims=True))
  prob /= prob.sum(-1, keepdims=True)

  def h(p):
    return -(p * np.log(np.maximum(p, 1e-5))).sum(-1)

  per_sample, batch = h(prob).mean(), h(prob.mean(0))
  np.testing.assert_allclose(aux["per_sample_entropy"], per_sample, rtol=1e-4)
  np.testing.assert_allclose(aux["batch_entropy"], batch, rtol=1e-4)
  np.testing.assert_allclose(aux["entropy_loss"], 0.1 * (per_sample - gamma * batch), rtol=1e-4,
                             atol=1e-6)
  commitment = 0.25 * ((rows - np.where(rows > 0, 1.0, -1.0)) ** 2).mean()
  np.testing.assert_allclose(aux["loss"], commitment + 0.1 * (per_sample - gamma * batch),
                             rtol=1e-4)


def test_lfq_indices_and_codes_round_trip():
  bits = 6
  lfq = LookupFreeQuantizer(bits=bits)
  all_indices = jnp.arange(2 ** bits)
  codes = lfq.apply({}, all_indices, method=LookupFreeQuantizer.indices_to_codes)
  np.testing.assert_array_equal(codes, _np_lfq_codebook(bits))
  _, aux = lfq.apply({}, codes[None])
  np.testing.assert_array_equal(aux["indices"][0], all_indices)
  np.testing.assert_allclose(aux["codebook_usage"], 1.0)
  np.testing.assert_allclose(aux["perplexity"], 2 ** bits, rtol=1e-5)


def test_lfq_refuses_the_entropy_over_too_large_a_codebook():
  with pytest.raises(ConfigError, match="max_entropy_bits"):
    LookupFreeQuantizer(bits=18).apply({}, jnp.zeros((1, 2, 18)))
  _, aux = LookupFreeQuantizer(bits=18, entropy_loss_weight=0.0).apply({}, jnp.ones((1, 2, 18)))
  assert int(aux["indices"][0, 0]) == 2 ** 18 - 1
