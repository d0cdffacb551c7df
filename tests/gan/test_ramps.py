"""R3GAN's ramps (gan.ramp_steps, optimizer lr_final / b2_final / decay_steps) against a numpy
transcription of the official training_loop.py: cosine_decay_with_warmup, the per-step Adam
betas of torch.optim.Adam, and the EMA beta 0.5 ** (batch / ema_nimg)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import r3gan as r3gan_config
from configs.common import optimizer_config
from lib.errors import ConfigError
from lib.tasks import gan
from tests.gan.smoke import random_batch, smoke_config
from lib.tasks import gan_ramps as ramps
from lib.train.optim import make_optimizer


def official_cosine(cur_nimg, base_value, total_nimg, final_value):
  # R3GAN training_loop.py cosine_decay_with_warmup with warmup_nimg = hold = 0
  decay = 0.5 * (1 + np.cos(np.pi * cur_nimg / float(total_nimg)))
  cur_value = base_value + (1 - decay) * (final_value - base_value)
  return float(np.where(cur_nimg > total_nimg, final_value, cur_value))


@pytest.mark.parametrize("base,final", [(0.05, 0.005), (0.0, 0.55), (0.9, 0.99)])
def test_cosine_ramp_is_the_official_formula(base, final):
  for t in (0, 1, 7, 50, 99, 100, 101, 400):
    np.testing.assert_allclose(float(ramps.cosine_ramp(t, base, final, 100)),
                               official_cosine(t, base, 100, final), rtol=1e-6, atol=1e-6)   # float32


def test_adam_with_ramped_lr_and_beta2_matches_torch_adam_with_changing_betas():
  steps, lr0, lr1, b2a, b2b, eps = 6, 2e-4, 5e-5, 0.9, 0.99, 1e-8
  c = optimizer_config(name="adam", learning_rate=lr0, b1=0.0, b2=b2a, eps=eps,
                       schedule="cosine", lr_final=lr1, b2_final=b2b, decay_steps=steps)
  tx = make_optimizer(c, 100)
  rng = np.random.default_rng(0)
  grads = rng.normal(size=(steps + 3, 4)).astype(np.float32)
  params = {"w": jnp.zeros(4)}
  state = tx.init(params)
  v, w = np.zeros(4), np.zeros(4)
  for t in range(steps + 3):               # torch.optim.Adam, betas (0, b2_t) set each step
    lr_t, b2_t = official_cosine(t, lr0, steps, lr1), official_cosine(t, b2a, steps, b2b)
    g = grads[t].astype(np.float64)
    v = b2_t * v + (1 - b2_t) * g * g
    w = w - lr_t * g / (np.sqrt(v) / np.sqrt(1 - b2_t ** (t + 1)) + eps)
    upd, state = tx.update({"w": jnp.asarray(grads[t])}, state, params)
    params = {"w": params["w"] + upd["w"]}
    np.testing.assert_allclose(np.asarray(params["w"]), w, rtol=2e-4, atol=1e-9)


def test_plain_cosine_still_decays_to_zero_over_the_run():
  tx = make_optimizer(optimizer_config(name="sgd", learning_rate=1.0, momentum=0.0), 4)
  p = {"w": jnp.zeros(())}
  s = tx.init(p)
  moved = []
  for _ in range(5):
    u, s = tx.update({"w": jnp.ones(())}, s, p)
    moved.append(-float(u["w"]))
  np.testing.assert_allclose(moved, [official_cosine(t, 1.0, 4, 0.0) for t in range(5)],
                             atol=1e-6)


def _smoke(**gan_keys):
  return smoke_config(r3gan_config, **gan_keys)


_batch = random_batch


def test_train_step_follows_the_gamma_p_and_ema_ramps():
  n = 3
  c = _smoke(ramp_steps=n, r1_gamma=0.5, r2_gamma=0.5, r1_gamma_final=0.05,
             r2_gamma_final=0.1, ada_p_init=0.0, ada_p_final=0.6,
             ema_halflife_final_kimg=0.5)
  batch = _batch(c)
  state = gan.init(c, jax.random.key(0), batch)
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  for t in range(n + 2):
    ema_before = state.ema_params
    state, m = step(state, batch, jax.random.key(t))
    np.testing.assert_allclose(float(m["r1_gamma"]), official_cosine(t, 0.5, n, 0.05), rtol=1e-5)
    np.testing.assert_allclose(float(m["r2_gamma"]), official_cosine(t, 0.5, n, 0.1), rtol=1e-5)
    np.testing.assert_allclose(float(m["ada_p"]), official_cosine(t, 0.0, n, 0.6), atol=1e-6)
    halflife = official_cosine(t, 0.0, n, 500.0)
    beta = 0.5 ** (c.data.batch_size / max(halflife, 1e-8))
    leaf = lambda tree: np.asarray(jax.tree.leaves(tree)[0], np.float64)
    np.testing.assert_allclose(            # ema = G + (ema - G) beta (the official lerp)
        leaf(state.ema_params),
        leaf(state.params["G"]) + (leaf(ema_before) - leaf(state.params["G"])) * beta,
        rtol=1e-5, atol=1e-7)


def test_without_ramps_nothing_is_logged_and_gammas_are_constant():
  c = _smoke()
  state = gan.init(c, jax.random.key(0), _batch(c))
  _, m = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))(state, _batch(c), jax.random.key(1))
  assert "r1_gamma" not in m
  assert ramps.gammas(c.gan, 5) == (c.gan.r1_gamma, c.gan.r2_gamma)


@pytest.mark.parametrize("keys,needle", [
    (dict(ramp_steps=-1), "gan.ramp_steps"),
    (dict(ramp_steps=10, ada_p_final=1.5), "gan.ada_p_final"),
    (dict(ramp_steps=10, ada_adaptive=True, ada_p_final=0.3), "ada_adaptive"),
    (dict(ramp_steps=10, r1_gamma_final=-0.1), "gan.r1_gamma_final"),
])
def test_bad_ramp_keys_stop_with_a_message(keys, needle):
  c = _smoke(**keys)
  with pytest.raises(ConfigError, match=needle):
    gan.init(c, jax.random.key(0), _batch(c))
