"""The notebook API restores a GAN run (two networks, two optimizers, an EMA generator) onto
one CPU device and samples exactly what the trained state samples."""
import jax
import numpy as np

from configs import cgan
from lib.analysis import load_run
from lib.tasks import gan
from lib.train.loop import Trainer


def test_load_run_samples_like_the_trained_state(tmp_path):
  config = cgan.get_config("smoke")
  # trained on the 8 simulated devices (data axis), restored onto one
  config.checkpoint.async_save = False
  trainer = Trainer(config, str(tmp_path))
  trainer.run()
  run = load_run(str(tmp_path))
  assert run.step == config.total_steps
  assert len(run.state.params["G"]) and len(run.state.params["D"])
  rng, labels = jax.random.key(3), np.arange(6, dtype=np.int32) % 10
  got = np.asarray(run.sample(rng, 6, labels))
  want = np.asarray(gan.sample(config, jax.device_get(trainer.final_state), rng, 6, labels))
  assert got.shape == (6, 16, 16, 1)
  np.testing.assert_allclose(got, want, atol=1e-5)
  # a different label changes the class-conditional sample
  assert np.abs(np.asarray(run.sample(rng, 6, (labels + 1) % 10)) - got).max() > 1e-3
