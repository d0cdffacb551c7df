"""VAE / IWAE: the ELBO's terms and the IWAE log-weights against a numpy transcription (the
Gaussian KL in closed form), and on held-out digits, after brief training, the IWAE bound
with k = 50 above the ELBO (k = 1), scored by the registered `likelihood` evaluator."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.vae import get_config
from lib.data.digits import DigitsSource
from lib.tasks import vae as vae_task
from lib.train import likelihood_evaluators  # noqa: F401  (registers 'likelihood')
from lib.train.evaluators import EvalContext, evaluator_factory
from lib.train.mesh import make_mesh
from research.vae.model import VAE


def _np_log_sigmoid(a):
  return -np.logaddexp(0.0, -a)


def _np_bernoulli(x, logits):
  return np.sum(x * _np_log_sigmoid(logits) + (1 - x) * _np_log_sigmoid(-logits), axis=-1)


def _np_log_normal(z, mean, log_sigma):
  return np.sum(-0.5 * np.log(2 * np.pi) - log_sigma - 0.5 * ((z - mean) / np.exp(log_sigma)) ** 2,
                axis=-1)


@pytest.fixture(scope="module")
def tiny():
  model = VAE(num_pixels=16, latent_dim=3, hidden=(8,))
  x = (jax.random.uniform(jax.random.key(0), (5, 4, 4, 1)) < 0.4).astype(jnp.float32)
  params = model.init(jax.random.key(1), x, jax.random.key(2))["params"]
  params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(3), p.shape), params)
  return model, {"params": params}, x


def test_elbo_terms_match_a_numpy_transcription(tiny):
  model, v, x = tiny
  rng = jax.random.key(4)
  elbo, recon, kl = model.apply(v, x, rng, method=VAE.elbo)
  mean, log_sigma = (np.asarray(a, np.float64) for a in model.apply(v, x, method=VAE.encode))
  eps = np.asarray(jax.random.normal(rng, mean.shape), np.float64)   # the draw elbo makes
  z = mean + np.exp(log_sigma) * eps
  logits = np.asarray(model.apply(v, jnp.asarray(z, jnp.float32), method=VAE.decode), np.float64)
  np_kl = 0.5 * np.sum(mean ** 2 + np.exp(2 * log_sigma) - 1.0 - 2 * log_sigma, axis=-1)
  np_recon = _np_bernoulli(np.asarray(x).reshape(5, -1), logits)
  np.testing.assert_allclose(np.asarray(kl), np_kl, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(recon), np_recon, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(np.asarray(elbo), np_recon - np_kl, rtol=1e-5, atol=1e-4)
  # the closed-form KL is the mean of log q - log p over many samples
  many = mean[:, None] + np.exp(log_sigma)[:, None] * np.random.default_rng(0).normal(
      size=(5, 100000, 3))
  mc = (_np_log_normal(many, mean[:, None], log_sigma[:, None])
        - _np_log_normal(many, 0.0, np.zeros_like(many))).mean(1)
  np.testing.assert_allclose(mc, np_kl, rtol=0.02, atol=0.05)


def test_iwae_bound_is_logsumexp_of_the_log_weights_minus_log_k(tiny):
  model, v, x = tiny
  rng, k = jax.random.key(5), 7
  log_w = np.asarray(model.apply(v, x, rng, k, method=VAE.log_weights), np.float64)
  mean, log_sigma = (np.asarray(a, np.float64) for a in model.apply(v, x, method=VAE.encode))
  z = mean[:, None] + np.exp(log_sigma)[:, None] * np.asarray(
      jax.random.normal(rng, (5, k, 3)), np.float64)
  logits = np.asarray(model.apply(v, jnp.asarray(z, jnp.float32), method=VAE.decode), np.float64)
  np_log_w = (_np_bernoulli(np.asarray(x).reshape(5, 1, -1), logits)
              + _np_log_normal(z, 0.0, np.zeros_like(z))
              - _np_log_normal(z, mean[:, None], log_sigma[:, None]))
  np.testing.assert_allclose(log_w, np_log_w, rtol=1e-5, atol=1e-4)
  top = np_log_w.max(1)
  np_bound = top + np.log(np.exp(np_log_w - top[:, None]).mean(1))
  bound = model.apply(v, x, rng, k, method=VAE.iwae_bound)
  np.testing.assert_allclose(np.asarray(bound), np_bound, rtol=1e-5, atol=1e-4)


def test_iwae_50_is_tighter_than_the_elbo_on_held_out_digits(tmp_path):
  c = get_config("smoke")
  c.model.update(latent_dim=8, hidden=(64,))
  c.data.batch_size, c.total_steps = 100, 250
  c.optimizer.update(schedule="constant", learning_rate=3e-3)
  c.vae.eval_k = (1, 5, 50)
  train = np.stack([DigitsSource("train", image_size=8)[i]["image"] for i in range(1500)])
  state = vae_task.init(c, jax.random.key(0), {"image": jnp.asarray(train[:1])})

  @jax.jit
  def steps(state, key):
    def body(s, r):
      idx = jax.random.randint(r, (100,), 0, len(train))
      return vae_task.train_step(c, s, {"image": jnp.asarray(train)[idx]}, r)[0], None
    return jax.lax.scan(body, state, jax.random.split(key, c.total_steps))[0]

  state = steps(state, jax.random.key(1))
  mesh = make_mesh(c.mesh)
  ctx = EvalContext(c, vae_task, mesh, None, str(tmp_path))
  m = evaluator_factory("likelihood")(ctx)(state, c.total_steps, True)
  assert m["eval_examples"] == 297
  # the bound rises with k (Burda et al. Theorem 1): IWAE-50 > IWAE-5 > IWAE-1 ~ the ELBO
  assert m["eval_iwae50_nll_nats"] < m["eval_iwae5_nll_nats"] < m["eval_iwae1_nll_nats"]
  assert m["eval_iwae1_nll_nats"] - m["eval_iwae50_nll_nats"] > 0.1
  assert abs(m["eval_iwae1_nll_nats"] - m["eval_elbo_nll_nats"]) < 1.0
  np.testing.assert_allclose(m["eval_iwae50_bpd"], m["eval_iwae50_nll_nats"] / (64 * np.log(2)),
                             rtol=1e-12)
  # trained: far below the 64 ln 2 = 44.4 nats of a coin per pixel
  assert m["eval_elbo_nll_nats"] < 40.0
