"""AdaLIN / LIN against numpy instance and layer norm; the CAM map in closed form."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.nn.cam import CAM
from lib.nn.instance_layer_norm import LIN, AdaLIN, clip_rho


def _np_norm(x, axes, eps=1e-5):
  mu = x.mean(axis=axes, keepdims=True)
  var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
  return (x - mu) / np.sqrt(var + eps)


def _adalin(x, rho, gamma, beta):
  m = AdaLIN()
  params = m.init(jax.random.key(0), x, gamma, beta)
  params = {"params": {"rho": jnp.full_like(params["params"]["rho"], rho)}}
  return np.asarray(m.apply(params, x, gamma, beta))


def test_adalin_rho_one_is_instance_norm_and_zero_is_layer_norm():
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, (2, 5, 4, 3)).astype(np.float32)
  gamma = rng.normal(size=(2, 3)).astype(np.float32)
  beta = rng.normal(size=(2, 3)).astype(np.float32)
  g, b = gamma[:, None, None], beta[:, None, None]
  np.testing.assert_allclose(_adalin(x, 1.0, gamma, beta), _np_norm(x, (1, 2)) * g + b,
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(_adalin(x, 0.0, gamma, beta), _np_norm(x, (1, 2, 3)) * g + b,
                             rtol=1e-4, atol=1e-4)
  mix = 0.3 * _np_norm(x, (1, 2)) + 0.7 * _np_norm(x, (1, 2, 3))
  np.testing.assert_allclose(_adalin(x, 0.3, gamma, beta), mix * g + b, rtol=1e-4, atol=1e-4)


def test_lin_starts_as_layer_norm():
  x = np.random.default_rng(1).normal(size=(2, 4, 4, 6)).astype(np.float32)
  m = LIN()
  out = m.apply(m.init(jax.random.key(0), x), x)
  np.testing.assert_allclose(np.asarray(out), _np_norm(x, (1, 2, 3)), rtol=1e-4, atol=1e-4)


def test_clip_rho_clips_only_rho():
  tree = {"a": {"rho": jnp.array([-0.5, 0.4, 1.7])}, "kernel": jnp.array([-3.0, 3.0])}
  out = clip_rho(tree)
  np.testing.assert_allclose(np.asarray(out["a"]["rho"]), [0.0, 0.4, 1.0], rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(out["kernel"]), [-3.0, 3.0])


def test_cam_map_is_the_classifier_weighted_sum_of_features():
  x = jax.random.normal(jax.random.key(2), (3, 5, 6, 7))
  for spectral in (False, True):
    m = CAM(spectral=spectral)
    variables = m.init(jax.random.key(0), x)
    fused, cam_logit, aux = m.apply(variables, x)
    w = np.asarray(variables["params"]["gap_fc"])[:, 0]
    w_max = np.asarray(variables["params"]["gmp_fc"])[:, 0]
    if spectral:          # the spectral norm of a one-output map is its L2 norm
      w, w_max = w / np.linalg.norm(w), w_max / np.linalg.norm(w_max)
    xn = np.asarray(x)
    cam = np.einsum("bhwc,c->bhw", xn, w)
    np.testing.assert_allclose(np.asarray(aux["cam"]), cam, rtol=1e-4, atol=1e-4)
    # the GAP logit is the spatial mean of the map (CAM, Zhou et al. 2016)
    np.testing.assert_allclose(np.asarray(cam_logit[:, 0]), cam.mean((1, 2)), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(cam_logit[:, 1]), xn.max((1, 2)) @ w_max, rtol=1e-4,
                               atol=1e-4)
    assert aux["heatmap"].shape == (3, 5, 6) and fused.shape == x.shape
