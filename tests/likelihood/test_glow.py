"""Glow: every layer's log-determinant against a brute-force Jacobian (jax.jacfwd + slogdet),
exact inversion, actnorm's data-dependent init, squeeze. (The data-dependent start inside the
first train step runs in tests/test_config_smoke.py.)"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.glow.model import ActNorm, AffineCoupling, Glow, InvConv1x1, squeeze2d, unsqueeze2d

SHAPE = (1, 2, 2, 4)    # one example, D = 16: the Jacobian is 16 x 16


def _perturbed(variables, key, scale=0.2):
  """Params moved off their init (the zero-init convs would make the coupling trivial)."""
  params = variables["params"]
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  noisy = [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
  return {**variables, "params": jax.tree.unflatten(tree, noisy)}


def _layer(kind):
  return {"actnorm": ActNorm(), "invconv": InvConv1x1(False), "invconv_lu": InvConv1x1(True),
          "affine": AffineCoupling(width=8), "additive": AffineCoupling(8, "additive")}[kind]


@pytest.fixture(scope="module")
def glow():
  model = Glow(levels=2, steps_per_level=1, width=8)
  x = jax.random.uniform(jax.random.key(0), (1, 4, 4, 1)) - 0.5          # D = 16
  # a large init batch: a ReLU channel dead on the whole batch would get actnorm scale 1e6
  batch = jax.random.uniform(jax.random.key(1), (64, 4, 4, 1)) - 0.5
  variables = jax.jit(lambda r, b: model.init(r, b, method=Glow.log_prob))(jax.random.key(2),
                                                                           batch)
  return model, _perturbed(variables, jax.random.key(3), 0.05), x


@pytest.mark.parametrize("kind", ["actnorm", "invconv", "invconv_lu", "affine", "additive"])
def test_layer_log_det_is_the_jacobians_and_the_inverse_is_exact(kind):
  layer = _layer(kind)
  x = jax.random.normal(jax.random.key(0), SHAPE)
  init_batch = jax.random.normal(jax.random.key(1), (64,) + SHAPE[1:])   # no dead channel
  variables = jax.jit(lambda r, b: layer.init(r, b, jnp.zeros(64)))(jax.random.key(2), init_batch)
  variables = _perturbed(variables, jax.random.key(3), 0.1)

  def forward(flat):
    y, _ = layer.apply(variables, flat.reshape(SHAPE), jnp.zeros(1))
    return y.reshape(-1)

  jac = jax.jit(jax.jacfwd(forward))(x.reshape(-1))
  sign, brute = np.linalg.slogdet(np.asarray(jac, np.float64))
  y, logdet = jax.jit(lambda v, a: layer.apply(v, a, jnp.zeros(1)))(variables, x)
  assert sign != 0
  np.testing.assert_allclose(float(logdet[0]), brute, rtol=1e-4, atol=1e-4)
  x_back, logdet_back = jax.jit(lambda v, a, l: layer.apply(v, a, l, reverse=True))(
      variables, y, logdet)
  np.testing.assert_allclose(np.asarray(x_back), np.asarray(x), atol=1e-5)
  np.testing.assert_allclose(np.asarray(logdet_back), 0.0, atol=1e-4)


def test_whole_flow_log_det_is_the_jacobians_and_decode_inverts(glow):
  model, variables, x = glow

  def flat_z(flat):
    zs, _, _ = model.apply(variables, flat.reshape(x.shape), method=Glow.encode)
    return jnp.concatenate([z.reshape(-1) for z in zs])

  jac = jax.jit(jax.jacfwd(flat_z))(x.reshape(-1))
  assert jac.shape == (16, 16)                   # the split-off latents + the top: D numbers
  _, brute = np.linalg.slogdet(np.asarray(jac, np.float64))
  zs, logdet, _ = model.apply(variables, x, method=Glow.encode)
  np.testing.assert_allclose(float(logdet[0]), brute, rtol=1e-4, atol=1e-4)
  x_back = model.apply(variables, zs, method=Glow.decode)
  np.testing.assert_allclose(np.asarray(x_back), np.asarray(x), atol=1e-5)


def test_actnorm_data_dependent_init_normalises_the_first_batch():
  x = 3.0 + 2.5 * jax.random.normal(jax.random.key(0), (16, 4, 4, 3)) * jnp.arange(1, 4)
  layer = ActNorm()
  variables = layer.init(jax.random.key(1), x)
  y = np.asarray(layer.apply(variables, x))
  np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_squeeze_is_space_to_depth_and_unsqueeze_inverts_it():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  s = np.asarray(squeeze2d(x))
  assert s.shape == (2, 2, 2, 12)
  # channel index c * 4 + dy * 2 + dx of block (i, j) is pixel (2i + dy, 2j + dx), channel c
  np.testing.assert_array_equal(s[1, 1, 0, 2 * 4 + 1 * 2 + 1], np.asarray(x)[1, 3, 1, 2])
  np.testing.assert_array_equal(np.asarray(unsqueeze2d(squeeze2d(x))), np.asarray(x))
