"""Balanced consistency regularization (Zhao et al. 2021; gan.bcr_*): the penalty against a
numpy transcription of Eq. 3-4, its wiring into the D loss of a real train step, and the
config errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vitgan as vitgan_config
from lib.errors import ConfigError
from lib.tasks import gan
from tests.gan.smoke import random_batch, smoke_config
from lib.tasks import gan_regularizers as regs


def test_consistency_penalty_is_the_mean_squared_logit_difference():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(7,)), rng.normal(size=(7,))
  np.testing.assert_allclose(float(regs.consistency_penalty(jnp.asarray(a), jnp.asarray(b))),
                             np.mean((a - b) ** 2), rtol=1e-6)
  a4, b4 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))     # per-scale logits [B, 4]
  np.testing.assert_allclose(float(regs.consistency_penalty(jnp.asarray(a4), jnp.asarray(b4))),
                             np.mean(np.sum((a4 - b4) ** 2, -1)), rtol=1e-6)


def test_penalty_gradient_flows_through_both_logits():
  g = jax.grad(lambda a, b: regs.consistency_penalty(a, b), argnums=(0, 1))(
      jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
  np.testing.assert_allclose(np.asarray(g[0]), [1.0, 2.0])       # d/da mean (a - b)^2 = (a - b)
  np.testing.assert_allclose(np.asarray(g[1]), [-1.0, -2.0])


def _smoke(**gan_keys):
  return smoke_config(vitgan_config, **gan_keys)


_batch = random_batch


def test_train_step_adds_both_weighted_terms_to_the_d_loss():
  c = _smoke(bcr_real_weight=10.0, bcr_fake_weight=3.0, bcr_policy="translation,cutout")
  state = gan.init(c, jax.random.key(0), _batch(c))
  _, m = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))(state, _batch(c), jax.random.key(1))
  assert float(m["bcr_real"]) > 0 and float(m["bcr_fake"]) > 0
  np.testing.assert_allclose(
      float(m["d_loss"]),
      float(m["d_adv_loss"]) + 10.0 * float(m["bcr_real"]) + 3.0 * float(m["bcr_fake"]),
      rtol=1e-5)
  c0 = _smoke(bcr_real_weight=0.0, bcr_fake_weight=0.0)
  s0 = gan.init(c0, jax.random.key(0), _batch(c0))
  _, m0 = jax.jit(lambda s, b, r: gan.train_step(c0, s, b, r))(s0, _batch(c0), jax.random.key(1))
  assert "bcr_real" not in m0 and "bcr_fake" not in m0
  np.testing.assert_allclose(float(m0["d_loss"]), float(m0["d_adv_loss"]), rtol=1e-6)


@pytest.mark.parametrize("keys,match", [
    (dict(bcr_real_weight=-1.0), "bcr_real_weight=-1.0"),
    (dict(bcr_fake_weight=1.0, bcr_policy="flip"), "bcr_policy='flip'"),
])
def test_bad_bcr_keys_stop_at_init_with_the_fix(keys, match):
  c = _smoke(**keys)
  with pytest.raises(ConfigError, match=match):
    gan.init(c, jax.random.key(0), _batch(c))
