"""The GAN task's jitted step on tiny MLP models: every loss runs and moves both networks,
no retrace over steps, n_critic / lazy R1 / ADA / clipping / EMA do what their keys say, and
sampling honours conditioning and truncation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs._gan import gan_config
from lib.tasks import gan

SHAPE = (8, 8, 1)


def config(**gan_keys):
  c = gan_config()
  c.total_steps = 10
  c.generator.update(name="research.gan_rings.model.MLPGenerator", output_shape=SHAPE, hidden=32,
                     depth=2)
  c.discriminator.update(name="research.gan_rings.model.MLPDiscriminator", hidden=32, depth=2)
  c.gan.z_dim = 8
  c.gan.update(gan_keys)
  c.data.batch_size = 8 * c.gan.n_critic
  return c


def batch(c, seed=0):
  rng = np.random.default_rng(seed)
  n = c.data.batch_size
  return {"image": jnp.asarray(rng.uniform(-1, 1, (n,) + SHAPE), jnp.float32),
          "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32)}


def start(c):
  return gan.init(c, jax.random.key(0), batch(c))


def changed(a, b):
  return any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", "wasserstein", "relativistic"])
def test_each_loss_steps_and_changes_params(loss):
  c = config(loss=loss)
  s0 = start(c)
  s1, m = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))(s0, batch(c), jax.random.key(1))
  assert int(s1.step) == 1
  assert changed(s0.params["G"], s1.params["G"]) and changed(s0.params["D"], s1.params["D"])
  assert all(np.isfinite(float(v)) for v in m.values())
  assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(m)


def test_no_retrace_and_init_under_eval_shape():
  c = config(conditioning="acgan", r1_gamma=1.0, r1_every=2, lecam_weight=0.1)
  abstract = jax.eval_shape(lambda r: gan.init(c, r, batch(c)), jax.random.key(0))
  state = start(c)
  assert jax.tree.structure(abstract) == jax.tree.structure(state)
  traces = []

  def step(s, b, r):
    traces.append(1)
    return gan.train_step(c, s, b, r)

  f = jax.jit(step, donate_argnums=(0,))
  seen = []
  for i in range(4):
    state, m = f(state, batch(c, i), jax.random.key(i))
    seen.append(float(m["r1"]))
  assert len(traces) == 1
  # Lazy R1 every 2 D steps: computed at D steps 0 and 2 only.
  assert seen[0] > 0 and seen[2] > 0 and seen[1] == 0 and seen[3] == 0
  assert "d_acgan_loss" in m and "lecam" in m
  assert float(state.stats["lecam_real"]) != 0.0


def test_n_critic_clipping_and_ema():
  c = config(loss="wasserstein", n_critic=3, weight_clip=0.01)
  c.ema_decay = 0.5
  s0 = start(c)
  s1, m = gan.train_step(c, s0, batch(c), jax.random.key(2))
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(s1.params["D"])) <= 0.01 + 1e-7
  ema = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, s0.ema_params, s1.params["G"])
  for a, b in zip(jax.tree.leaves(ema), jax.tree.leaves(s1.ema_params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
  # 3 critic updates: Adam's count in the D optimizer state advanced by 3, G's by 1.
  counts = lambda o: [int(x) for x in jax.tree.leaves(o) if jnp.ndim(x) == 0 and
                      jnp.issubdtype(x.dtype, jnp.integer)]
  assert 3 in counts(s1.opt_state["D"]) and 1 in counts(s1.opt_state["G"])
  with pytest.raises(ValueError, match="multiple of"):
    gan.train_step(c, s0, {k: v[:8] for k, v in batch(c).items()}, jax.random.key(0))


def test_ada_p_follows_sign_of_real_logits():
  """With ada_interval 1, every D step moves p by +-b/(ada_kimg*1000) according to whether
  the measured r_t = E sign(D(x_real)) is above or below the target."""
  c = config(augment="ada", ada_interval=1, ada_kimg=1.0, ada_target=0.0, ada_p_init=0.5)
  state = start(c)
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  moved = set()
  for i in range(6):
    p_before = float(state.ada_p)
    state, m = step(state, batch(c, i), jax.random.key(i))
    r_t = float(m["ada_r_t"])
    if r_t != 0.0:
      expected = np.clip(p_before + np.sign(r_t) * 8 / 1000.0, 0, 1)
      np.testing.assert_allclose(float(state.ada_p), expected, rtol=1e-5)
      moved.add(np.sign(r_t))
  assert moved


def test_sample_conditioning_and_truncation():
  c = config(conditioning="cbn_projection", truncation=0.5)
  assert gan.num_conditional_classes(c) == 10
  state = start(c)
  images = gan.sample(c, state, jax.random.key(0), 12, jnp.arange(12) % 10)
  assert images.shape == (12,) + SHAPE
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  z = gan.sample_z(jax.random.key(0), 256, 8, truncation=0.5)
  assert float(jnp.max(jnp.abs(z))) <= 0.5
  with pytest.raises(ValueError, match="conditioning"):
    gan.num_conditional_classes(config(conditioning="label_in_z"))
