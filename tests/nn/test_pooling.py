"""lib/nn/pooling.pool against flax's reduce_window pools and a numpy loop transcription."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.nn.pooling import pool


def _numpy_pool(x, k, reduce):
  b, h, w, c = x.shape
  out = np.zeros((b, h // k, w // k, c), x.dtype)
  fn = np.mean if reduce == "avg" else np.max
  for i in range(h // k):
    for j in range(w // k):
      out[:, i, j] = fn(x[:, i * k:(i + 1) * k, j * k:(j + 1) * k], axis=(1, 2))
  return out


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_pool_values_match_numpy_and_flax(k, reduce):
  x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
  got = np.asarray(pool(jnp.asarray(x), k, reduce))
  np.testing.assert_allclose(got, _numpy_pool(x, k, reduce), rtol=1e-6, atol=1e-6)
  flax_pool = nn.avg_pool if reduce == "avg" else nn.max_pool
  np.testing.assert_allclose(got, flax_pool(jnp.asarray(x), (k, k), strides=(k, k)), rtol=1e-6,
                             atol=1e-6)


@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_pool_gradient_matches_reduce_window(reduce):
  """Without ties (continuous random input) the gradient equals flax's reduce_window pool's."""
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 4))
  w = jax.random.normal(jax.random.key(2), (2, 4, 4, 4))
  flax_pool = nn.avg_pool if reduce == "avg" else nn.max_pool
  ours = jax.grad(lambda x: jnp.sum(pool(x, 2, reduce) * w))(x)
  ref = jax.grad(lambda x: jnp.sum(flax_pool(x, (2, 2), strides=(2, 2)) * w))(x)
  np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_pool_refuses_untiled_maps_and_unknown_reductions():
  with pytest.raises(ValueError, match="do not tile"):
    pool(jnp.zeros((1, 6, 6, 1)), 4)
  with pytest.raises(ValueError, match="reduce="):
    pool(jnp.zeros((1, 4, 4, 1)), 2, "sum")
