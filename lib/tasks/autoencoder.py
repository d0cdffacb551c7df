"""Autoencoder (tokenizer) training: reconstruction + the quantizer's loss (issue 14).

Task contract (DESIGN): init, train_step, predict, plus `reconstruct_and_tokens` (what the
`reconstruction` evaluator reads) and `codebook_size`. `config.model` is a module mapping
images [B, H, W, C] to (reconstruction, aux) with a `train: bool` call argument and aux
holding the lib/nn/quantizers keys (research.vqgan.model.Tokenizer).

Objective (VQ-VAE Eq. 3 without its fixed-variance constant; VQGAN's L_VQ without the
perceptual and adversarial terms):
  L = ||x - x_hat||_p + aux['loss'],  p = config.reconstruction_loss ('l1' | 'l2', mean)
where aux['loss'] is the quantizer's own term (VQ: codebook + beta commitment; EMA-VQ: beta
commitment; FSQ: 0; LFQ: entropy + commitment). EMA-VQ's codebook statistics are the mutable
collection 'quantizer_stats', carried in state.model_state like batch stats, updated in the
step with rng stream 'quantizer' (dead-code restart). With gradient accumulation the new
statistics are the mean of the micro-batches' updated statistics.
Not in scope yet (follow-up): VQGAN's perceptual (LPIPS) and adversarial (patch GAN, adaptive
weight) losses.
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

RECONSTRUCTION_LOSSES = ("l1", "l2")


def model_of(config):
  return build_model(config.model, config.compute_dtype)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def codebook_size(config) -> int:
  from research.vqgan.model import codebook_size as size
  return size(config.model.quantizer, dict(config.model.get("quantizer_kwargs") or {}))


def reconstruction_loss(x, x_hat, kind: str):
  """Mean |x - x_hat| (l1) or (x - x_hat)^2 (l2) over every pixel, float32."""
  if kind not in RECONSTRUCTION_LOSSES:
    raise ConfigError(f"config.reconstruction_loss={kind!r}; use one of {RECONSTRUCTION_LOSSES}.")
  diff = x_hat.astype(jnp.float32) - x.astype(jnp.float32)
  return jnp.mean(jnp.abs(diff)) if kind == "l1" else jnp.mean(diff ** 2)


def init(config, rng, batch) -> TrainState:
  variables = model_of(config).init({"params": rng, "quantizer": rng}, batch["image"][:1],
                                    train=False)
  return TrainState.create(variables, optimizer_of(config), config.ema_decay)


def train_step(config, state: TrainState, batch, rng):
  model, tx = model_of(config), optimizer_of(config)
  mutable = list(state.model_state.keys())
  kind = config.get("reconstruction_loss", "l1")

  def loss_fn(params, micro, r):
    out = model.apply({"params": params, **state.model_state}, micro["image"], train=True,
                      rngs={"quantizer": r}, mutable=mutable or False)
    (recon, aux), new_model_state = out if mutable else (out, {})
    recon_loss = reconstruction_loss(micro["image"], recon, kind)
    loss = recon_loss + aux["loss"]                     # L = ||x - x_hat|| + L_quantizer
    return loss, {"recon_loss": recon_loss, "quantizer_loss": aux["loss"],
                  "codebook_usage": aux["codebook_usage"], "perplexity": aux["perplexity"],
                  "model_state": dict(new_model_state)}

  (loss, aux), grads = value_and_grad_accumulated(
      loss_fn, state.params, batch, rng, config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay, model_state=aux.pop("model_state"))
  params = new_state.params
  metrics = {"loss": loss, **aux, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params)}
  return new_state, metrics


def _variables(state):
  return {"params": state.eval_params, **state.model_state}


def reconstruct_and_tokens(config, state: TrainState, images):
  """(reconstructions [B, H, W, C] float32, tokens [B, h, w] int32), EMA params when kept."""
  recon, aux = model_of(config).apply(_variables(state), images, train=False)
  return recon, aux["indices"]


def predict(config, state: TrainState, batch):
  """Reconstructions of batch['image'] (float32, the images' range)."""
  return reconstruct_and_tokens(config, state, batch["image"])[0]
