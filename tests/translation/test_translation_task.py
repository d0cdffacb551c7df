"""The translation task: rho stays in [0, 1] after updates (U-GAT-IT's clipper); the image
pool; the LSGAN loss."""
import jax
import jax.numpy as jnp
import numpy as np

from configs import ugatit
from lib.tasks import gan_losses, image_pool
from lib.tasks import translation as task


def _rhos(params):
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return [np.asarray(v) for p, v in flat if getattr(p[-1], "key", None) == "rho"]


def test_rho_stays_in_unit_interval_after_updates():
  c = ugatit.get_config("smoke")
  c.optimizer_g.learning_rate = 1.0           # Adam's first step of ~1 takes rho out of [0, 1]
  c.translation.linear_decay_start = 1.0
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32),
           "target": jnp.asarray(rng.uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)}
  state = task.init(c, jax.random.key(0), batch)
  before = _rhos(state.params)
  assert before and all((np.isclose(r, 0.9) | (r == 0.0)).all() for r in before)  # AdaLIN, LIN
  step = jax.jit(lambda s, b, r: task.train_step(c, s, b, r))
  for i in range(2):
    state, metrics = step(state, batch, jax.random.key(i))
  after = np.concatenate([r.ravel() for r in _rhos(state.params)])
  assert np.isfinite(float(metrics["g_loss"]))
  assert after.min() >= 0.0 and after.max() <= 1.0
  assert ((after == 0.0) | (after == 1.0)).any()                 # the clip was needed
  assert not np.allclose(after, np.concatenate([r.ravel() for r in before]))


def test_image_pool_fills_then_mixes():
  pool = image_pool.empty_pool(3, (1,))
  x = jnp.arange(1.0, 3.0)[:, None]
  out, pool = image_pool.query(pool, x, jax.random.key(0), 3)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(x))          # filling: returned
  assert int(pool["count"]) == 2
  from_pool = []
  for i in range(30):
    new = jnp.full((2, 1), 100.0 + i)
    out, pool = image_pool.query(pool, new, jax.random.key(i + 1), 3)
    from_pool.append(np.asarray(out)[:, 0] != 100.0 + i)
  from_pool = np.concatenate(from_pool)
  assert int(pool["count"]) == 3
  assert 0.2 < from_pool.mean() < 0.8              # about half the fakes come from the pool
  same, _ = image_pool.query(pool, new, jax.random.key(0), 0)            # size 0: no pool
  np.testing.assert_array_equal(np.asarray(same), np.asarray(new))


def test_lsgan_loss():
  real, fake = jnp.array([1.0, 0.5]), jnp.array([0.0, 0.2])
  np.testing.assert_allclose(float(gan_losses.discriminator_loss("lsgan", real, fake)),
                             np.mean([0.0, 0.25]) + np.mean([0.0, 0.04]), rtol=1e-6)
  np.testing.assert_allclose(float(gan_losses.generator_loss("lsgan", None, fake)),
                             np.mean([1.0, 0.64]), rtol=1e-6)
