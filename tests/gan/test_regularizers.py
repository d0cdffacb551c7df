"""Regularizers: gradient penalty and R1 against central finite differences of a numpy
critic; LeCam, orthogonal and path-length penalties against numpy / closed forms."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.tasks import gan_regularizers as R

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(12, 16)) / 3
W2 = RNG.normal(size=(16,))


def critic_np(x):
  """D(x) = tanh(x W1) . w2 per sample, x [B, 2, 2, 3] (float64)."""
  return np.tanh(x.reshape(x.shape[0], -1) @ W1) @ W2


def critic_jax(x):
  return jnp.tanh(x.reshape(x.shape[0], -1) @ jnp.asarray(W1, jnp.float32)) @ jnp.asarray(
      W2, jnp.float32)


def fd_gradients(x, h=1e-5):
  g = np.zeros_like(x)
  flat = x.reshape(x.shape[0], -1)
  gf = g.reshape(x.shape[0], -1)
  for j in range(flat.shape[1]):
    e = np.zeros_like(flat)
    e[:, j] = h
    plus, minus = (flat + e).reshape(x.shape), (flat - e).reshape(x.shape)
    gf[:, j] = (critic_np(plus) - critic_np(minus)) / (2 * h)
  return g


def test_r1_matches_finite_differences():
  x = RNG.normal(size=(5, 2, 2, 3))
  g = fd_gradients(x)
  ref = np.mean(np.sum(g.reshape(5, -1) ** 2, -1))                 # E ||grad D(x)||^2
  out = R.r1_penalty(critic_jax, jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(float(out), ref, rtol=1e-4)
  per = R.squared_gradient_norm(critic_jax, jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(np.asarray(per), np.sum(g.reshape(5, -1) ** 2, -1), rtol=1e-4)


def test_gradient_penalty_matches_finite_differences():
  real = RNG.normal(size=(6, 2, 2, 3))
  fake = RNG.normal(size=(6, 2, 2, 3))
  eps = RNG.uniform(size=(6,))
  x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
  g = fd_gradients(x_hat)
  ref = np.mean((np.linalg.norm(g.reshape(6, -1), axis=-1) - 1.0) ** 2)
  out = R.gradient_penalty(critic_jax, jnp.asarray(real, jnp.float32),
                           jnp.asarray(fake, jnp.float32), jnp.asarray(eps, jnp.float32))
  np.testing.assert_allclose(float(out), ref, rtol=1e-4)
  # eps = 1 puts the interpolates on the reals.
  np.testing.assert_allclose(np.asarray(R.interpolates(jnp.asarray(real), jnp.asarray(fake),
                                                       jnp.ones(6))), real, rtol=1e-6)


def test_gradient_penalty_is_zero_for_unit_lipschitz_linear_critic():
  a = RNG.normal(size=(12,))
  a /= np.linalg.norm(a)
  d = lambda x: x.reshape(x.shape[0], -1) @ jnp.asarray(a, jnp.float32)
  x = jnp.asarray(RNG.normal(size=(4, 2, 2, 3)), jnp.float32)
  assert float(R.gradient_penalty(d, x, -x, jnp.full((4,), 0.3))) < 1e-10
  np.testing.assert_allclose(float(R.r1_penalty(d, x)), 1.0, rtol=1e-5)


def test_lecam_matches_numpy():
  r, f = RNG.normal(size=8), RNG.normal(size=8)
  ref = np.mean((r - 0.3) ** 2) + np.mean((f - (-0.7)) ** 2)   # alpha_F = 0.3, alpha_R = -0.7
  out = R.lecam_penalty(jnp.asarray(r), jnp.asarray(f), anchor_real=-0.7, anchor_fake=0.3)
  np.testing.assert_allclose(float(out), ref, rtol=1e-5)
  np.testing.assert_allclose(float(R.ema(1.0, 3.0, 0.99)), 1.02, rtol=1e-6)


def test_orthogonal_penalty_matches_numpy_and_vanishes_on_orthogonal():
  w = RNG.normal(size=(3, 3, 4, 5))
  params = {"conv": {"kernel": jnp.asarray(w, jnp.float32), "bias": jnp.ones(5)},
            "embed": {"embedding": jnp.ones((10, 4))}}
  m = w.reshape(-1, 5).T                                            # [out, in]
  gram = m @ m.T
  ref = 0.5 * np.sum((gram * (1 - np.eye(5))) ** 2)         # BigGAN-PyTorch: grad 2 beta (..) W
  np.testing.assert_allclose(float(R.orthogonal_penalty(params)), ref, rtol=1e-4)
  q, _ = np.linalg.qr(RNG.normal(size=(8, 8)))
  assert float(R.orthogonal_penalty({"k": jnp.asarray(3.0 * q[:, :6], jnp.float32)})) < 1e-8


def test_orthogonal_penalty_tall_weight_uses_small_gram_exactly():
  """out > in (a z -> 4x4 linear layer): the [in, in] Gram form gives the [out, out] value and
  BigGAN-PyTorch's gradient 2 (W W^T o (1 - I)) W."""
  w = RNG.normal(size=(6, 40)).astype(np.float32)                   # flax Dense [in, out]
  m = w.T.astype(np.float64)                                        # [out, in]
  off = (m @ m.T) * (1 - np.eye(40))
  got = R.orthogonal_penalty({"dense": {"kernel": jnp.asarray(w)}})
  np.testing.assert_allclose(float(got), 0.5 * np.sum(off ** 2), rtol=1e-5)
  grad = jax.grad(R.orthogonal_penalty)({"dense": {"kernel": jnp.asarray(w)}})
  np.testing.assert_allclose(np.asarray(grad["dense"]["kernel"]), (2 * off @ m).T,
                             rtol=1e-4, atol=1e-3)


def test_path_lengths_closed_form():
  """For a linear synthesis g(w) = w A, J^T y = A y: lengths are ||A y|| per sample; with
  w of shape [B, num_ws, w_dim] broadcast copies, the squared norms are averaged over ws."""
  a = RNG.normal(size=(6, 2 * 2 * 3))
  y = RNG.normal(size=(4, 2, 2, 3))
  synth = lambda w: (w @ jnp.asarray(a, jnp.float32)).reshape(-1, 2, 2, 3)
  w = jnp.asarray(RNG.normal(size=(4, 6)), jnp.float32)
  out = R.path_lengths(synth, w, jnp.asarray(y, jnp.float32))
  ref = np.linalg.norm(y.reshape(4, -1) @ a.T, axis=-1)
  np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4)
  synth3 = lambda w: synth(jnp.sum(w, axis=1))
  out3 = R.path_lengths(synth3, jnp.stack([w, w, w], 1), jnp.asarray(y, jnp.float32))
  np.testing.assert_allclose(np.asarray(out3), ref, rtol=1e-4)
  noise = R.path_length_noise(jax.random.key(0), (64, 8, 8, 3))
  np.testing.assert_allclose(float(jnp.std(noise)), 1 / 8, rtol=0.05)


def test_clip_weights_bounds_every_leaf():
  p = {"a": jnp.asarray([-1.0, 0.005, 2.0]), "b": {"c": jnp.asarray([[0.02, -0.003]])}}
  out = R.clip_weights(p, 0.01)
  np.testing.assert_allclose(np.asarray(out["a"]), [-0.01, 0.005, 0.01])
  np.testing.assert_allclose(np.asarray(out["b"]["c"]), [[0.01, -0.003]])
