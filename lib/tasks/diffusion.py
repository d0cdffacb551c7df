"""Diffusion models: one task for every formulation and backbone (DESIGN: Task contract).

`config.model` names the backbone, a Flax module called as
`net(x [B,H,W,C], noise_level [B], labels [B] or None, train=...) -> [B,H,W,C_out]` with fields
`num_classes` (set here from `config.diffusion.num_classes`; 0 = unconditional) and
`out_channels` (set here from the formulation). `config.diffusion.formulation` ('ddpm' | 'edm',
lib/diffusion/formulations.py) trains and samples it; the backbone does not know which.

Classifier-free guidance (Ho & Salimans 2022) at sampling, `config.diffusion.guidance_scale` s:
the net runs on [x; x] with [labels; null] (null = num_classes, the backbone's extra class that
label dropout trains), and the first C output channels become uncond + s (cond - uncond) (eps
for DDPM, F_theta, hence D, for EDM); the learned-variance channels are the conditional ones.
s = 1 is the plain conditional sampler. Every channel is guided; the official DiT
`forward_with_cfg` guides only the first three of its four latent channels.

Latent diffusion (`config.latent.workdir`, lib/tasks/latent_space.py): the same task on a
frozen autoencoder's latents z * scale; the state then also holds the autoencoder's variables
and the scale (LatentDiffusionState), frozen and checkpointed with the model, and `sample`
decodes the generated latents, so the evaluators see pixels either way.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib.diffusion.formulations import formulation_of
from lib.errors import ConfigError
from lib.tasks import latent_space
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState


@flax.struct.dataclass
class LatentDiffusionState(TrainState):
  autoencoder_params: Any = None          # frozen
  autoencoder_model_state: Any = None
  latent_scale: Any = None                # z -> z * scale before diffusion (LDM scale_by_std)

  @property
  def autoencoder_variables(self):
    return {"params": self.autoencoder_params, **(self.autoencoder_model_state or {})}


def sample_shape(config) -> tuple[int, int, int]:
  """(H, W, C) the diffusion model generates: pixels, or the autoencoder's latents."""
  if latent_space.enabled(config):
    return latent_space.latent_shape(config)
  size = int(config.data.image_size)
  return size, size, int(config.data.channels)


def num_conditional_classes(config) -> int:
  """Classes the model is conditioned on (0 when unconditional); the evaluators use it."""
  return int(config.diffusion.num_classes)


def formulation(config):
  return formulation_of(config.diffusion)


def model_of(config):
  m = ml_collections.ConfigDict(config.model.to_dict())
  m.num_classes = num_conditional_classes(config)
  h, _, c = sample_shape(config)
  m.out_channels = formulation(config).out_channels(c)
  for key, value in (("image_size", h), ("channels", c)):
    if key in m:
      m[key] = value
  return build_model(m, config.compute_dtype)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def _labels(config, batch, n):
  if not num_conditional_classes(config):
    return None
  if "label" not in batch:
    raise ConfigError("config.diffusion.num_classes > 0 needs labels: the batch has no 'label' "
                      "(set config.diffusion.num_classes=0 for an unconditional model)")
  return batch["label"][:n].astype(jnp.int32)


def init(config, rng, batch) -> TrainState:
  latent = latent_space.enabled(config)
  if latent and config.diffusion.formulation == "ddpm" and config.diffusion.ddpm.clip_denoised:
    raise ConfigError("config.diffusion.ddpm.clip_denoised=True clips x0 to the pixel range "
                      "[-1, 1]; latents (config.latent.workdir) are not bounded: set "
                      "config.diffusion.ddpm.clip_denoised=False")
  if latent:
    ae_params, ae_state = latent_space.frozen_variables(config)
    ae_variables = {"params": ae_params, **ae_state}
    z = latent_space.encode(config, ae_variables, batch["image"])
    scale = latent_space.scale_of(config, z)
    x = z[:1] * scale
  else:
    x = batch["image"][:1]
  variables = model_of(config).init({"params": rng, "dropout": rng}, x, jnp.zeros((1,)),
                                    _labels(config, batch, 1), train=False)
  state = TrainState.create(variables, optimizer_of(config), config.ema_decay)
  if not latent:
    return state
  return LatentDiffusionState(**{k: getattr(state, k) for k in state.__dataclass_fields__},
                              autoencoder_params=ae_params, autoencoder_model_state=ae_state,
                              latent_scale=scale)


def diffusion_input(config, state, images):
  """What the formulation diffuses: the images, or their scaled latents (no gradient)."""
  if not latent_space.enabled(config):
    return images.astype(jnp.float32)
  z = latent_space.encode(config, state.autoencoder_variables, images)
  return z * state.latent_scale


def train_step(config, state: TrainState, batch, rng):
  model, tx, form = model_of(config), optimizer_of(config), formulation(config)

  def loss_fn(params, micro, r):
    k_form, k_drop = jax.random.split(r)
    net = lambda x, level, y: model.apply({"params": params}, x, level, y, train=True,
                                          rngs={"dropout": k_drop})
    x0 = diffusion_input(config, state, micro["image"])
    loss, terms = form.loss(net, x0, _labels(config, micro, x0.shape[0]), k_form)
    return jnp.mean(loss), {k: jnp.mean(v) for k, v in terms.items()}

  (loss, terms), grads = value_and_grad_accumulated(loss_fn, state.params, batch, rng,
                                                    config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay)
  params = new_state.params
  return new_state, {"loss": loss, "grad_norm": optax.global_norm(grads),
                     "param_norm": optax.global_norm(params), **terms}


def guided(net, num_classes: int, scale: float, channels: int):
  """net with classifier-free guidance: the first `channels` outputs uncond + s (cond - uncond)."""
  if not num_classes or scale == 1.0:
    return net

  def f(x, level, labels):
    null = jnp.full_like(labels, num_classes)
    out = net(jnp.concatenate([x, x]), jnp.concatenate([level, level]),
              jnp.concatenate([labels, null]))
    cond, uncond = jnp.split(out, 2)
    g = uncond[..., :channels] + scale * (cond[..., :channels] - uncond[..., :channels])
    return jnp.concatenate([g, cond[..., channels:]], axis=-1)
  return f


def sample(config, state: TrainState, rng, n: int, labels=None, guidance_scale=None):
  """n images [n, H, W, C] in [-1, 1] from the EMA params when kept; labels cycle through the
  classes when not given (conditional models); `guidance_scale` overrides the config's."""
  model, form = model_of(config), formulation(config)
  num_classes = num_conditional_classes(config)
  scale = config.diffusion.guidance_scale if guidance_scale is None else guidance_scale
  if num_classes and scale != 1.0 and not config.model.get("class_dropout_prob", 0.1):
    raise ConfigError("config.diffusion.guidance_scale != 1 needs the null class: train with "
                      "config.model.class_dropout_prob > 0 (DiT: 0.1), or set the scale to 1")
  k_x, k_y, k_s = jax.random.split(rng, 3)
  if num_classes:
    labels = (jax.random.randint(k_y, (n,), 0, num_classes) if labels is None
              else jnp.asarray(labels, jnp.int32))
  else:
    labels = None
  h, w, c = sample_shape(config)
  params = state.eval_params
  net = lambda x, level, y: model.apply({"params": params}, x, level, y, train=False)
  x_T = jax.random.normal(k_x, (n, h, w, c))
  x0 = form.sample(guided(net, num_classes, scale, c), x_T, labels, k_s)
  if latent_space.enabled(config):
    return latent_space.decode(config, state.autoencoder_variables,
                               x0.astype(jnp.float32) / state.latent_scale)
  return jnp.clip(x0.astype(jnp.float32), -1.0, 1.0)
