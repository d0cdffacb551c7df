"""Each adversarial loss against a numpy transcription of its formula."""
import jax.numpy as jnp
import numpy as np
import pytest

from lib.tasks import gan_losses as L


def softplus(t):
  return np.log1p(np.exp(t))


NUMPY_D = {
    "nonsaturating": lambda r, f: np.mean(-np.log(1 / (1 + np.exp(-r))))
    + np.mean(-np.log(1 - 1 / (1 + np.exp(-f)))),          # -log D(x) - log(1 - D(G(z)))
    "hinge": lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
    "wasserstein": lambda r, f: np.mean(f) - np.mean(r),
    "relativistic": lambda r, f: np.mean(softplus(-(r - f))),
    "lsgan": lambda r, f: np.mean((r - 1) ** 2) + np.mean(f ** 2),          # LSGAN Eq. 2, a=0, b=c=1
}
NUMPY_G = {
    "nonsaturating": lambda r, f: np.mean(-np.log(1 / (1 + np.exp(-f)))),   # -log D(G(z))
    "hinge": lambda r, f: -np.mean(f),
    "wasserstein": lambda r, f: -np.mean(f),
    "relativistic": lambda r, f: np.mean(softplus(-(f - r))),
    "lsgan": lambda r, f: np.mean((f - 1) ** 2),
}


@pytest.mark.parametrize("name", L.LOSSES)
def test_loss_matches_numpy(name):
  rng = np.random.default_rng(0)
  r = rng.normal(0.5, 2.0, 64)
  f = rng.normal(-0.5, 2.0, 64)
  d = L.discriminator_loss(name, jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32))
  g = L.generator_loss(name, jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32))
  np.testing.assert_allclose(float(d), NUMPY_D[name](r, f), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(g), NUMPY_G[name](r, f), rtol=1e-5, atol=1e-6)


def test_relativistic_pairs_samples():
  """RpGAN couples x_i with G(z_i): permuting the fakes changes the loss, while the
  non-saturating loss (a sum of separate terms) does not change."""
  r = jnp.asarray([3.0, -1.0, 0.5])
  f = jnp.asarray([-2.0, 1.0, 0.0])
  p = f[jnp.asarray([2, 0, 1])]
  assert abs(float(L.discriminator_loss("relativistic", r, f))
             - float(L.discriminator_loss("relativistic", r, p))) > 1e-3
  np.testing.assert_allclose(float(L.discriminator_loss("nonsaturating", r, f)),
                             float(L.discriminator_loss("nonsaturating", r, p)), rtol=1e-6)
  assert L.needs_real_logits_for_generator("relativistic")
  assert not L.needs_real_logits_for_generator("hinge")


def test_auxiliary_classifier_loss_and_unknown_name():
  logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
  labels = np.array([0, 1])
  logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  ref = -np.mean(logp[np.arange(2), labels])
  np.testing.assert_allclose(float(L.auxiliary_classifier_loss(jnp.asarray(logits),
                                                               jnp.asarray(labels))), ref,
                             rtol=1e-5)
  with pytest.raises(ValueError, match="config.gan.loss"):
    L.discriminator_loss("least_squares", jnp.zeros(2), jnp.zeros(2))
