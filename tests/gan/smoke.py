"""A paper config's smoke variant with some `config.gan` keys changed, and a random batch of
its shape: what GAN train-step tests build before they step."""
import jax.numpy as jnp
import numpy as np


def smoke_config(config_module, **gan_keys):
  c = config_module.get_config("smoke")
  c.gan.update(gan_keys)
  return c


def random_batch(c, seed: int = 0):
  """Images uniform in [-1, 1] at the config's size, labels uniform over 10 classes."""
  rng = np.random.default_rng(seed)
  n, s, ch = c.data.batch_size, c.data.image_size, c.data.channels
  return {"image": jnp.asarray(rng.uniform(-1, 1, (n, s, s, ch)), jnp.float32),
          "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32)}
