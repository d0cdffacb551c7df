"""Latent diffusion (lib/tasks/latent_space.py through lib/tasks/diffusion.py): a DiT trained on a
frozen FSQ tokenizer's latents. Checked: the latents are the tokenizer's pre-quantization z
(recomputed here from its submodules), LDM's scale is 1 / std of the init batch's latents, the
autoencoder stays frozen through training and is the trained tokenizer's, the backbone reads
latent channels, samples are decoded to pixels, and the workdir errors name the key."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dit as dit_config
from configs import fsq as fsq_config
from lib.errors import ConfigError
from lib.tasks import diffusion, latent_space
from lib.train.loop import Trainer


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
  config = fsq_config.get_config("smoke")
  config.checkpoint.async_save = False
  config.total_steps, config.eval.evaluators = 2, ()       # only the frozen weights matter
  workdir = str(tmp_path_factory.mktemp("fsq") / "run")
  Trainer(config, workdir).run()
  return workdir


def _latent_config(workdir):
  config = dit_config.get_config("smoke")
  config.latent.workdir = str(workdir)
  config.checkpoint.async_save = False
  config.total_steps, config.eval.evaluators = 2, ()
  return config


def test_latent_dit_trains_on_frozen_latents_and_samples_pixels(tokenizer_dir, tmp_path):
  from lib.analysis import load_run
  config = _latent_config(tokenizer_dir)
  wd = str(tmp_path / "ldm")
  results = Trainer(config, wd).run()
  assert results["step"] == config.total_steps
  tok, run = load_run(tokenizer_dir), load_run(wd)
  state = run.state
  for a, b in zip(jax.tree.leaves(tok.params), jax.tree.leaves(state.autoencoder_params)):
    np.testing.assert_array_equal(a, b)                    # the trained tokenizer, unchanged
  h, w, c = latent_space.latent_shape(config)
  assert (h, w, c) == (8, 8, 4)                            # 16x16 / 2, FSQ levels (8, 5, 5, 5)
  p = config.model.patch_size
  assert state.params["x_embedder"]["kernel"].shape[0] == p * p * c   # reads latents
  images = diffusion.sample(config, state, jax.random.key(0), 4)
  assert images.shape == (4, 16, 16, 1)
  assert float(jnp.min(images)) >= -1.0 and float(jnp.max(images)) <= 1.0


def test_latents_scale_and_decoding_follow_ldm(tokenizer_dir):
  config = _latent_config(tokenizer_dir)
  model = latent_space.autoencoder_of(config)
  params, model_state = latent_space.frozen_variables(config)
  variables = {"params": params, **model_state}
  images = jax.random.uniform(jax.random.key(1), (8, 16, 16, 1), minval=-1, maxval=1)
  # the quantizer's input, recomputed from the submodules: z = quant_conv(E(x))
  ref_z = model.apply(variables, images, method=lambda m, x: m.quant_conv(m.encoder(x)))
  z = latent_space.encode(config, variables, images)
  np.testing.assert_allclose(z, ref_z, rtol=1e-5, atol=1e-6)
  state = diffusion.init(config, jax.random.key(0), {"image": images,
                                                     "label": jnp.arange(8) % 10})
  np.testing.assert_allclose(float(state.latent_scale), 1.0 / np.std(np.asarray(ref_z)),
                             rtol=1e-5)                    # scale_by_std
  x0 = diffusion.diffusion_input(config, state, images)
  np.testing.assert_allclose(np.std(np.asarray(x0)), 1.0, rtol=1e-4)
  # decoding quantizes then decodes: the same as the tokenizer's own forward pass
  recon, _ = model.apply(variables, images)
  np.testing.assert_allclose(latent_space.decode(config, variables, z),
                             np.clip(np.asarray(recon), -1, 1), rtol=1e-5, atol=1e-5)
  config.latent.scale_factor = 0.18215
  assert float(latent_space.scale_of(config, z)) == pytest.approx(0.18215)


def test_latent_workdir_errors_name_the_key(tmp_path):
  with pytest.raises(ConfigError, match="config.latent.workdir.*does not exist.*configs/fsq"):
    latent_space.latent_shape(_latent_config(tmp_path / "missing"))
  (tmp_path / "config.json").write_text(json.dumps({"task": "lib.tasks.classify"}))
  with pytest.raises(ConfigError, match="lib.tasks.classify.*not an autoencoder"):
    latent_space.latent_shape(_latent_config(tmp_path))


def test_latent_rejects_pixel_clipping_and_other_data(tokenizer_dir):
  config = _latent_config(tokenizer_dir)
  config.diffusion.ddpm.clip_denoised = True
  batch = {"image": jnp.zeros((2, 16, 16, 1)), "label": jnp.zeros((2,), jnp.int32)}
  with pytest.raises(ConfigError, match="clip_denoised"):
    diffusion.init(config, jax.random.key(0), batch)
  config = _latent_config(tokenizer_dir)
  config.data.image_size = 32
  with pytest.raises(ConfigError, match="data.image_size=16"):
    latent_space.latent_shape(config)
