"""DDPM / DDIM: schedules against their formulas, respacing, the learned-variance loss terms,
and DDIM (eta = 1, all steps) against DDPM's ancestral sampler with an exact eps for a 1-D
Gaussian mixture."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.diffusion import ddpm, ddpm_samplers, schedules
from tests.diffusion.mixture import Mixture


def test_linear_and_cosine_schedules():
  b = schedules.linear_betas(1000)
  np.testing.assert_allclose([b[0], b[-1]], [1e-4, 0.02])
  np.testing.assert_allclose(np.diff(b), np.full(999, (0.02 - 1e-4) / 999), rtol=1e-9)
  c = schedules.cosine_betas(1000)
  f = lambda t: np.cos((t / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2   # iDDPM Eq. 17
  abar = np.cumprod(1 - c)
  np.testing.assert_allclose(abar[:-50], (f(np.arange(1, 1001)) / f(0))[:-50], rtol=1e-6)
  assert c.max() <= 0.999


def test_respacing_keeps_alpha_bar_on_the_kept_steps():
  d = ddpm.GaussianDiffusion.from_schedule("linear", 1000)
  r = d.respaced(50)
  use = r.timestep_map
  assert len(use) == 50 and use[0] == 0 and use[-1] == 999
  np.testing.assert_allclose(r.alphas_cumprod, d.alphas_cumprod[use], rtol=1e-10)
  assert np.all(r.betas > 0) and np.all(r.betas < 1)


def test_posterior_and_x0_round_trip():
  d = ddpm.GaussianDiffusion.from_schedule("cosine", 100)
  x0 = jax.random.normal(jax.random.key(0), (6, 3))
  eps = jax.random.normal(jax.random.key(1), (6, 3))
  t = jnp.array([0, 1, 10, 50, 98, 99])
  xt = d.q_sample(x0, t, eps)
  np.testing.assert_allclose(np.asarray(d.predict_x0(xt, t, eps)), np.asarray(x0), atol=2e-3)
  # posterior mean is the combination that puts x_{t-1} between x_0 and x_t: numpy reference
  a, ap, beta = d.alphas_cumprod[t], d.alphas_cumprod_prev[t], d.betas[t]
  ref = ((beta * np.sqrt(ap) / (1 - a))[:, None] * np.asarray(x0)
         + ((1 - ap) * np.sqrt(1 - beta) / (1 - a))[:, None] * np.asarray(xt))
  mean, var, _ = d.q_posterior(x0, xt, t)
  np.testing.assert_allclose(np.asarray(mean), ref, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(np.asarray(var)[:, 0], beta * (1 - ap) / (1 - a), rtol=1e-5)


def test_learned_variance_interpolates_and_vb_is_the_closed_form_kl():
  d = ddpm.GaussianDiffusion.from_schedule("linear", 100)
  x0 = jax.random.uniform(jax.random.key(0), (4, 5), minval=-1, maxval=1)
  eps = jax.random.normal(jax.random.key(1), (4, 5))
  t = jnp.array([3, 20, 60, 99])
  xt = d.q_sample(x0, t, eps)
  out = jnp.concatenate([eps, jnp.ones_like(eps)], -1)              # v = 1: log beta_t
  p = d.p_mean_variance(out, xt, t, learn_sigma=True)
  np.testing.assert_allclose(np.asarray(p["log_variance"])[:, 0], np.log(d.betas[t]), rtol=1e-5)
  # with the true eps and the posterior's own variance (v = -1), KL = 0 except for float error
  out = jnp.concatenate([eps, -jnp.ones_like(eps)], -1)
  vb = d.vb_terms_bpd(out, x0, xt, t)
  np.testing.assert_allclose(np.asarray(vb), 0.0, atol=1e-3)
  # KL of two 1-D normals, numpy
  m1, lv1, m2, lv2 = 0.3, -1.0, -0.2, 0.5
  ref = 0.5 * (-1 + lv2 - lv1 + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2))
  assert abs(float(ddpm.normal_kl(m1, lv1, m2, lv2)) - ref) < 1e-6
  terms = d.training_losses(out, x0, xt, t, eps, learn_sigma=True)
  np.testing.assert_allclose(np.asarray(terms["mse"]), 0.0, atol=1e-10)
  np.testing.assert_allclose(np.asarray(terms["loss"]), np.asarray(terms["vb"]), rtol=1e-6)


@pytest.fixture(scope="module")
def setup():
  mix = Mixture(np.array([[-1.0], [0.5], [2.0]]), std=0.15, weights=[0.5, 0.3, 0.2])
  d = ddpm.GaussianDiffusion.from_schedule("linear", 1000)
  abar = jnp.asarray(d.alphas_cumprod, jnp.float32)
  model = lambda x, t: mix.eps(x, abar[t.astype(jnp.int32)])      # exact eps, no training
  return mix, d, model


def _moments(x):
  x = np.asarray(x)[:, 0]
  return np.array([x.mean(), x.var(), ((x - x.mean()) ** 3).mean()])


def test_ddim_eta_one_matches_ancestral_in_distribution(setup):
  mix, d, model = setup
  n = 4000
  x_T = jax.random.normal(jax.random.key(0), (n, 1))
  x_T2 = jax.random.normal(jax.random.key(5), (n, 1))
  anc = jax.jit(lambda x, r: ddpm_samplers.ancestral_sample(d, model, x, r, learn_sigma=False))
  ddim = jax.jit(lambda x, r: ddpm_samplers.ddim_sample(d, model, x, r, eta=1.0))
  a, b = anc(x_T, jax.random.key(1)), ddim(x_T2, jax.random.key(2))
  true = np.asarray(mix.sample(jax.random.key(3), 200_000))
  # standard errors at n = 4000 are ~0.02 (mean), ~0.03 (var), ~0.06 (third moment)
  np.testing.assert_allclose(_moments(a), _moments(b), atol=0.12)
  np.testing.assert_allclose(_moments(a), _moments(true), atol=0.12)
  # eta = 1 with all steps has sigma_t^2 = beta~_t: the same chain, step for step
  same = ddim(x_T, jax.random.key(1))
  np.testing.assert_allclose(np.asarray(same), np.asarray(a), atol=2e-3)
  # and deterministic DDIM (eta = 0) on 50 respaced steps still lands on the modes
  det = ddpm_samplers.ddim_sample(d.respaced(50), model, x_T, jax.random.key(4), eta=0.0)
  assert mix.on_modes(det, 0.45) > 0.97
