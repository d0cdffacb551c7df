"""MAE pre-training: the masked-patch pixel loss of research.mae.model.MAE (He et al. 2022).

Task contract (DESIGN): `init`, `train_step`, and, in place of predict/sample (MAE neither
classifies nor generates), the two read-outs its evaluators use:
- `features(config, state, images)`: the frozen encoder on every token (no masking), pooled to
  [B, hidden] by `config.probe.pool` ('cls', the [class] token the paper's linear probe
  reads, Sec. 4 / official main_linprobe.py; or 'mean' over the patch tokens);
- `reconstruct(config, state, images, rng)`: (masked input, reconstruction with the visible
  patches pasted in) as images, for the `mae_reconstructions` grid.
Evaluators: lib/train/representation_evaluators.py (`mae_reconstructions`, `linear_probe`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.errors import ConfigError
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState
from research.mae.model import patchify, unpatchify

POOLS = ("cls", "mean")


def model_of(config):
  return build_model(config.model, config.compute_dtype)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def _params(state):
  return state.eval_params


def init(config, rng, batch) -> TrainState:
  variables = model_of(config).init({"params": rng, "masking": rng}, batch["image"][:1],
                                    train=False)
  return TrainState.create(variables, optimizer_of(config), config.ema_decay)


def train_step(config, state: TrainState, batch, rng):
  model, tx = model_of(config), optimizer_of(config)

  def loss_fn(params, micro, r):
    r_mask, r_drop = jax.random.split(r)
    out = model.apply({"params": params}, micro["image"], train=True,
                      rngs={"masking": r_mask, "dropout": r_drop})
    return out["loss"], {}

  (loss, _), grads = value_and_grad_accumulated(
      loss_fn, state.params, batch, rng, config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay)
  params = new_state.params
  metrics = {"loss": loss, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params)}
  return new_state, metrics


def features(config, state: TrainState, images):
  """[B, hidden] features of the frozen encoder on unmasked images."""
  pool = config.probe.pool
  if pool not in POOLS:
    raise ConfigError(f"config.probe.pool={pool!r}: use one of {POOLS}")
  model = model_of(config)
  tokens = model.apply({"params": _params(state)}, images, method=model.features)
  out = tokens[:, 0] if pool == "cls" else tokens[:, 1:].mean(1)
  return out.astype(jnp.float32)


def reconstruct(config, state: TrainState, images, rng):
  """(masked, reconstruction) images [B, H, W, C] for one masking draw of `rng`: masked
  patches are 0 (mid-grey); the reconstruction shows the prediction on the masked patches and
  the input on the visible ones. With norm_pix_loss the prediction lives in per-patch
  normalised units and is mapped back with the true patch's mean and std (as the official
  visualisation does for its norm-pix models), so only the shape within a patch is the model's."""
  model = model_of(config)
  out = model.apply({"params": _params(state)}, images, train=False, rngs={"masking": rng})
  p, c = config.model.patch_size, images.shape[-1]
  patches = patchify(images.astype(jnp.float32), p)
  pred = out["pred"].astype(jnp.float32)
  if config.model.norm_pix_loss:
    mean = patches.mean(-1, keepdims=True)
    std = jnp.sqrt(patches.var(-1, keepdims=True, ddof=1) + 1e-6)
    pred = pred * std + mean
  m = out["mask"][..., None]
  masked = unpatchify(patches * (1 - m), p, c)
  recon = unpatchify(patches * (1 - m) + pred * m, p, c)
  return masked, jnp.clip(recon, -1.0, 1.0)
