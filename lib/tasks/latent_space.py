"""Latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion
Models"): the diffusion task on a frozen autoencoder's latents instead of pixels.

`config.latent.workdir` names a finished tokenizer run (lib.tasks.autoencoder, e.g.
configs/fsq.py:digits), read with lib/train/frozen_run.py; '' keeps the model in pixel space.
Following LDM's VQ-regularised first stage (the official VQModelInterface): the latent is the
quantizer's input z = quant_conv(E(x)) (`Tokenizer.encode_latents`), and decoding quantizes
then decodes (`Tokenizer.decode_latents`), so the diffusion model never sees the codebook.

Scale: the latents are multiplied by `scale` before diffusion and divided by it before
decoding. `config.latent.scale_factor = 0` estimates it as LDM's `scale_by_std` does,
1 / std(z) over the first training batch (here the batch `init` sees), so the latents the
diffusion model sees have unit variance; a positive value fixes it (Stable Diffusion: 0.18215).
It lives in the train state, frozen and checkpointed with the autoencoder's params, so a
resumed run uses the same scale.

The first stage is always a run of this project's autoencoder task (any
lib.tasks.autoencoder config: configs/vqgan.py, fsq.py, lfq.py), encoded on the fly inside the
jitted step as LDM does; latents precomputed elsewhere are not read.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.train.frozen_run import load_frozen_run
from lib.train.imports import build_model

AUTOENCODER_TASK = "lib.tasks.autoencoder"


def enabled(config) -> bool:
  latent = config.get("latent")
  return bool(latent is not None and latent.get("workdir"))


def _fix(workdir: str) -> str:
  return (f"train an autoencoder there first (python launch.py --config configs/fsq.py:digits "
          f"--workdir {workdir}), name an existing tokenizer run in config.latent.workdir, or "
          "set config.latent.workdir='' to diffuse pixels")


def autoencoder_run(config):
  """The frozen autoencoder run named by config.latent.workdir (checked against the data)."""
  run = load_frozen_run(config.latent.workdir, "latent.workdir", "autoencoder",
                        _fix(config.latent.workdir), task=AUTOENCODER_TASK)
  for key in ("image_size", "channels"):
    if run.config.data.get(key) != config.data.get(key):
      raise ConfigError(f"config.latent.workdir: the autoencoder reads data.{key}="
                        f"{run.config.data.get(key)}, this run data.{key}="
                        f"{config.data.get(key)}; train the diffusion model on the "
                        "autoencoder's data")
  return run


def autoencoder_of(config):
  run = autoencoder_run(config)
  return build_model(run.config.model, run.config.get("compute_dtype", "float32"))


def latent_shape(config) -> tuple[int, int, int]:
  """(h, w, c) of the latents the diffusion model generates (abstract evaluation, no FLOPs)."""
  model, run = autoencoder_of(config), autoencoder_run(config)
  size, ch = int(config.data.image_size), int(config.data.channels)
  z = jax.eval_shape(lambda v, x: model.apply(v, x, method=model.encode_latents),
                     {"params": run.params, **run.model_state},
                     jax.ShapeDtypeStruct((1, size, size, ch), jnp.float32))
  return tuple(int(d) for d in z.shape[1:])


def frozen_variables(config):
  """The autoencoder's variables as device arrays (what init puts in the train state)."""
  run = autoencoder_run(config)
  return jax.tree.map(jnp.asarray, run.params), jax.tree.map(jnp.asarray, run.model_state)


def scale_of(config, z) -> jax.Array:
  """LDM's scale: config.latent.scale_factor, or 1 / std(z) when it is 0 (scale_by_std)."""
  fixed = float(config.latent.get("scale_factor", 0.0))
  if fixed < 0:
    raise ConfigError(f"config.latent.scale_factor={fixed} must be >= 0 (0: 1 / std of the "
                      "first batch's latents, LDM's scale_by_std)")
  if fixed:
    return jnp.float32(fixed)
  return (1.0 / jnp.std(z.astype(jnp.float32))).astype(jnp.float32)


def encode(config, variables, images):
  """images [B, H, W, C] -> unscaled latents z (no gradient)."""
  model = autoencoder_of(config)
  return jax.lax.stop_gradient(model.apply(variables, images, method=model.encode_latents))


def decode(config, variables, z):
  """unscaled latents -> images [B, H, W, C] in [-1, 1]."""
  model = autoencoder_of(config)
  images = model.apply(variables, z, method=model.decode_latents)
  return jnp.clip(images.astype(jnp.float32), -1.0, 1.0)
