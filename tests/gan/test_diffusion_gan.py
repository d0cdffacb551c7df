"""Diffusion-GAN (lib/tasks/gan_diffusion.py) against numpy transcriptions of the official
diffusion-stylegan2 (training/diffusion.py: get_beta_schedule 'linear', update_T, q_sample;
training_loop.py: the adaptive p), the timestep-conditioned StyleGAN2 D, the task's wiring,
and the limited-data subset (data.train_examples)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import diffusion_gan as diffusion_gan_config
from lib.data.pipeline import make_iterator
from lib.errors import ConfigError
from lib.tasks import gan
from tests.gan.smoke import random_batch, smoke_config
from lib.tasks import gan_diffusion as dg


def _official_alphas_bar(T, beta_start=1e-4, beta_end=2e-2):
  betas = np.linspace(beta_start, beta_end, T, dtype=np.float64)       # 'linear'
  return np.concatenate([[1.0], np.cumprod(1.0 - betas)])              # alphas_cumprod, t = 0..T


@pytest.mark.parametrize("T", [10, 137, 1000])
def test_alpha_bar_is_the_official_schedule_rebuilt_for_each_T(T):
  t = np.arange(T + 1)
  ours = np.asarray(dg.alpha_bar(jnp.asarray(t), jnp.asarray(T), 1000))
  np.testing.assert_allclose(ours, _official_alphas_bar(T), rtol=2e-5, atol=1e-7)


def test_T_follows_the_official_update_T():
  for p in (0.0, 0.0004, 0.0013, 0.25, 0.5, 0.77777, 1.0):
    official = int(np.clip(int(10 + round(p * 990)), 10, 1000))
    assert int(dg.current_T(jnp.float32(p), 10, 1000)) == official, p


@pytest.mark.parametrize("ts_dist", ["priority", "uniform"])
def test_timesteps_have_the_official_marginal(ts_dist):
  T, n = 12, 60_000
  t = np.asarray(dg.sample_t(jax.random.key(0), n, jnp.asarray(T), 1000, ts_dist))
  assert t.min() >= 0 and t.max() <= T
  assert abs(np.mean(t == 0) - 0.5) < 0.01                # 32 of the 64 candidates are 0
  values = np.arange(1, T + 1)
  weight = (values - 1.0) if ts_dist == "priority" else np.ones(T)   # np.arange(t) / sum
  expected = 0.5 * weight / weight.sum()
  observed = np.array([np.mean(t == v) for v in values])
  np.testing.assert_allclose(observed, expected, atol=0.006)
  if ts_dist == "priority":
    assert not np.any(t == 1)                               # P(1) = 0 in the official code


def test_diffuse_keeps_clean_images_and_adds_the_scaled_noise():
  x = jnp.full((4000, 4, 4, 1), 0.7, jnp.float32)
  p = jnp.float32(0.3)
  x_t, t = dg.diffuse(x, jax.random.key(3), p, noise_std=0.05)
  x_t, t = np.asarray(x_t), np.asarray(t)
  np.testing.assert_array_equal(x_t[t == 0], np.float32(0.7))
  T = int(dg.current_T(p, 10, 1000))
  ab = _official_alphas_bar(T)[t]
  mean = (x_t.reshape(len(t), -1).mean(1))
  resid = (x_t.reshape(len(t), -1) - np.sqrt(ab)[:, None] * 0.7) / (
      np.sqrt(1 - ab)[:, None] * 0.05 + 1e-12)
  big = t > T // 2                                          # enough noise to measure
  np.testing.assert_allclose(np.std(resid[big]), 1.0, atol=0.02)
  np.testing.assert_allclose(np.mean(resid[big]), 0.0, atol=0.02)
  assert np.all(mean[big] < 0.7)                            # sqrt(abar) shrinks the signal


def _smoke(**gan_keys):
  return smoke_config(diffusion_gan_config, **gan_keys)


_batch = random_batch


def test_discriminator_reads_the_timestep_through_its_mapping():
  c = _smoke()
  D = gan.discriminator_of(c)
  x = _batch(c)["image"][:4]
  params = D.init(jax.random.key(0), x, None, t=jnp.zeros(4, jnp.int32))["params"]
  embed = params["head"]["mapping"]["label_embed"]["kernel"]
  assert embed.shape[0] == 1                                # unconditional: c = [t]
  logits = lambda t: np.asarray(D.apply({"params": params}, x, None, t=t)[0])
  a, b = logits(jnp.zeros(4, jnp.int32)), logits(jnp.full(4, 500, jnp.int32))
  assert not np.allclose(a, b)


def test_train_step_starts_at_t_min_and_moves_p_by_the_official_rule():
  c = _smoke(ada_interval=1, ada_kimg=0.001)       # a visible step: b / (kimg 1000) = 0.5
  state = gan.init(c, jax.random.key(0), _batch(c))
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  s1, m = step(state, _batch(c), jax.random.key(1))
  assert int(m["diffusion_T"]) in (10, int(dg.current_T(s1.ada_p, 10, 1000)))
  b = c.data.batch_size
  expected = np.clip(0.0 + np.sign(float(m["diffusion_r_d"]) - 0.6) * b / (0.001 * 1000), 0, 1)
  np.testing.assert_allclose(float(s1.ada_p), expected, atol=1e-6)
  assert all(np.isfinite(float(v)) for v in m.values())


def test_diffusion_needs_a_timestep_conditioned_discriminator():
  c = _smoke()
  c.discriminator.timestep_conditioning = False
  with pytest.raises(ConfigError, match="timestep_conditioning=True"):
    gan.init(c, jax.random.key(0), _batch(c))
  c = _smoke(augment="none")
  with pytest.raises(ConfigError, match="augment='diffusion'"):
    gan.init(c, jax.random.key(0), _batch(c))


def test_train_examples_keeps_one_fixed_subset_whatever_the_loader_seed():
  c = diffusion_gan_config.get_config("smoke").data
  seen = []
  for seed in (0, 1):
    it = make_iterator(c, "train", global_batch_size=50, seed=seed, limit=200, limit_seed=0)
    imgs = np.concatenate([np.asarray(next(it)["image"]) for _ in range(8)])   # 2 epochs
    seen.append({im.tobytes() for im in imgs})
  assert 190 <= len(seen[0]) <= 200 and seen[0] == seen[1]
  with pytest.raises(ValueError, match="train_examples=99999"):
    make_iterator(c, "train", global_batch_size=8, seed=0, limit=99999)
