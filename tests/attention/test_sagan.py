"""SAGAN self-attention block: identity at init, numpy formula, spectral norm statistics."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.sagan import SelfAttention2D


def _maxpool2(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max((2, 4))


def _sagan_numpy(x, p):
  """y = x + gamma * o (SAGAN Eq. 1-3), theta/phi/g/o 1x1 convs, phi and g max-pooled."""
  b, h, w, c = x.shape
  k = lambda n: p[n]["kernel"][0, 0]
  theta = (x @ k("theta")).reshape(b, h * w, -1)
  phi = _maxpool2(x @ k("phi")).reshape(b, h * w // 4, -1)
  g = _maxpool2(x @ k("g")).reshape(b, h * w // 4, -1)
  s = theta @ phi.transpose(0, 2, 1)                       # no 1/sqrt(d)
  beta = np.exp(s - s.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = (beta @ g).reshape(b, h, w, c // 2) @ k("o")
  return x + p["gamma"] * o, beta


def test_identity_at_init_with_spectral_norm():
  x = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype(np.float32)
  block = SelfAttention2D(spectral_norm=True)
  v = jax.jit(block.init)(jax.random.PRNGKey(0), x)
  assert float(v["params"]["gamma"]) == 0.0
  y, st = jax.jit(partial(block.apply, mutable=["intermediates"]))(v, x)
  np.testing.assert_array_equal(np.asarray(y), x)
  w = np.asarray(st["intermediates"]["attention_weights"][0])
  assert w.shape == (2, 1, 24, 6)                          # N queries, N/4 keys
  np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)


def test_matches_numpy_with_gamma_one():
  x = np.random.default_rng(1).normal(size=(2, 4, 4, 16)).astype(np.float32)
  block = SelfAttention2D(spectral_norm=False)
  v = jax.jit(block.init)(jax.random.PRNGKey(1), x)
  v = {"params": dict(v["params"], gamma=jnp.ones(()))}
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want, beta = _sagan_numpy(x.astype(np.float64), p)
  y, st = jax.jit(partial(block.apply, mutable=["intermediates"]))(v, x)
  np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(st["intermediates"]["attention_weights"][0][:, 0]),
                             beta, rtol=1e-5, atol=1e-6)
  y16 = jax.jit(SelfAttention2D(spectral_norm=False, dtype=jnp.bfloat16).apply)(
      v, x.astype(jnp.bfloat16))
  err = np.abs(np.asarray(y16, np.float32) - want).max()
  assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale


def test_spectral_norm_statistics_converge_to_top_singular_value():
  x = np.random.default_rng(2).normal(size=(1, 4, 4, 16)).astype(np.float32)
  block = SelfAttention2D(spectral_norm=True)
  v = jax.jit(block.init)(jax.random.PRNGKey(2), x)
  v = {"params": dict(v["params"], gamma=jnp.ones(())), "batch_stats": v["batch_stats"]}

  @jax.jit
  def step(v):
    y, upd = block.apply(v, x, update_stats=True, mutable=["batch_stats"])
    return {"params": v["params"], "batch_stats": upd["batch_stats"]}, y

  for _ in range(40):
    v, _ = step(v)
  for name in ("theta", "phi", "g", "o"):
    kernel = np.asarray(v["params"][name]["kernel"], np.float64)
    top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    sigma = float(v["batch_stats"][f"{name}_sn"][f"{name}/kernel/sigma"])
    np.testing.assert_allclose(sigma, top, rtol=1e-4)
  # with converged statistics the block equals the formula with W / sigma_max(W)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  for name in ("theta", "phi", "g", "o"):
    kern = p[name]["kernel"]
    top = np.linalg.svd(kern.reshape(-1, kern.shape[-1]), compute_uv=False)[0]
    p[name] = {"kernel": kern / top}
  want, _ = _sagan_numpy(x.astype(np.float64), p)
  np.testing.assert_allclose(np.asarray(jax.jit(block.apply)(v, x)), want, rtol=1e-4, atol=1e-4)
