"""The MAE pre-training task: a few steps lower the loss, read-outs keep their promises."""
import jax
import jax.numpy as jnp
import numpy as np

from configs.mae import get_config
from research.mae import task
from research.mae.model import patchify


def _batch(n=16, seed=0):
  from lib.data.digits import DigitsSource
  src = DigitsSource("train", image_size=16)
  idx = np.random.default_rng(seed).choice(len(src), n, replace=False)
  return {"image": np.stack([src[int(i)]["image"] for i in idx]),
          "label": np.array([src[int(i)]["label"] for i in idx])}


def test_train_steps_lower_the_loss_on_a_fixed_batch():
  c = get_config("smoke")
  c.optimizer.learning_rate, c.total_steps = 3e-3, 30
  batch = _batch()
  state = task.init(c, jax.random.key(0), batch)
  step = jax.jit(lambda s, r: task.train_step(c, s, batch, r))
  rng = jax.random.key(1)                # the same masks every step: a fixed objective
  losses = []
  for _ in range(30):
    state, m = step(state, rng)
    losses.append(float(m["loss"]))
  assert int(state.step) == 30 and np.all(np.isfinite(losses))
  assert losses[-1] < 0.7 * losses[0]


def test_reconstruct_keeps_visible_patches_and_features_pool():
  c = get_config("smoke")
  batch = _batch(4)
  state = task.init(c, jax.random.key(0), batch)
  masked, recon = task.reconstruct(c, state, jnp.asarray(batch["image"]), jax.random.key(2))
  p = c.model.patch_size
  x, mk, rc = (np.asarray(patchify(jnp.asarray(a), p)) for a in (batch["image"], masked, recon))
  shown = np.abs(mk).sum(-1) > 0                     # masked patches are blanked to 0
  keep = int((16 // p) ** 2 * (1 - c.model.mask_ratio))
  assert (shown.sum(1) <= keep).all()
  np.testing.assert_allclose(rc[shown], x[shown], atol=1e-6)     # visible: the input itself
  cls = task.features(c, state, jnp.asarray(batch["image"]))
  c.probe.pool = "mean"
  mean = task.features(c, state, jnp.asarray(batch["image"]))
  assert cls.shape == mean.shape == (4, c.model.hidden_size)
  assert not np.allclose(cls, mean)
