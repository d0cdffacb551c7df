"""Spectral norm against numpy's SVD: flax's power iteration converges to sigma_max, and
ViTGAN's improved SN gives sigma(W_init) * W / sigma(W)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.nn.spectral_norm import ImprovedSpectralNorm, spectral_norm


class Layer(nn.Module):
  improved: bool = False

  @nn.compact
  def __call__(self, x, update_stats: bool = False):
    return spectral_norm(nn.Dense(6, use_bias=False, name="fc"), True, update_stats,
                         improved=self.improved)(x)


def _effective_kernel(layer, variables):
  return np.asarray(layer.apply(variables, jnp.eye(10)))   # rows of W_bar


def test_flax_sigma_converges_to_svd():
  layer = Layer()
  x = jnp.ones((1, 10))
  v = layer.init(jax.random.key(0), x)
  w = np.asarray(v["params"]["fc"]["kernel"], np.float64)
  sigma_svd = np.linalg.svd(w, compute_uv=False)[0]
  stats = v["batch_stats"]
  for _ in range(50):
    _, upd = layer.apply({"params": v["params"], "batch_stats": stats}, x, update_stats=True,
                         mutable=["batch_stats"])
    stats = upd["batch_stats"]
  sigma = float(stats["fc_sn"]["fc/kernel/sigma"])
  np.testing.assert_allclose(sigma, sigma_svd, rtol=1e-4)
  w_bar = _effective_kernel(layer, {"params": v["params"], "batch_stats": stats})
  np.testing.assert_allclose(np.linalg.svd(w_bar, compute_uv=False)[0], 1.0, rtol=1e-4)


def test_improved_sn_matches_formula():
  layer = Layer(improved=True)
  x = jnp.ones((1, 10))
  v = layer.init(jax.random.key(1), x)
  w_init = np.asarray(v["params"]["fc"]["kernel"], np.float64)
  sigma_init = np.linalg.svd(w_init, compute_uv=False)[0]
  stats = v["batch_stats"]["fc_sn"]
  np.testing.assert_allclose(float(stats["fc/kernel/sigma_init"]), sigma_init, rtol=1e-5)
  # Train-like change of W: the normalised weight keeps sigma(W_init), not 1 and not sigma(W).
  w_new = w_init * 3.0 + 0.5 * np.random.default_rng(0).normal(size=w_init.shape)
  params = {"fc": {"kernel": jnp.asarray(w_new, jnp.float32)}}
  bs = v["batch_stats"]
  for _ in range(50):
    _, upd = layer.apply({"params": params, "batch_stats": bs}, x, update_stats=True,
                         mutable=["batch_stats"])
    bs = upd["batch_stats"]
  w_bar = _effective_kernel(layer, {"params": params, "batch_stats": bs})
  expected = sigma_init * w_new / np.linalg.svd(w_new, compute_uv=False)[0]
  np.testing.assert_allclose(w_bar, expected, rtol=1e-3, atol=1e-5)
  assert abs(sigma_init - 1.0) > 0.05   # the factor matters


def test_disabled_is_plain_layer():
  class Plain(nn.Module):
    @nn.compact
    def __call__(self, x):
      return spectral_norm(nn.Dense(3, name="fc"), False)(x)
  v = Plain().init(jax.random.key(0), jnp.ones((1, 4)))
  assert set(v) == {"params"}
  assert issubclass(ImprovedSpectralNorm, nn.SpectralNorm)
