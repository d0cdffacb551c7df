"""Variational autoencoders on binarized images: the VAE's ELBO or the IWAE-k bound as the
objective, both reported on held-out data (research/vae).

Task contract (DESIGN): init, train_step, sample, plus the likelihood evaluator's hooks
`log_likelihoods(config, state, images, rng)` and `num_dims(config)`
(lib/train/likelihood_evaluators.py).

Binarization (`config.vae.binarize`): 'dynamic' (the official IWAE datasets.py: every time an
image is used, each pixel is 1 with probability its intensity (x + 1) / 2; held-out images get
one fixed draw, from the evaluator's fixed rng) or 'threshold' (x > 0, intensity above 1/2).
Objective (`config.vae.objective`): 'elbo' (Kingma & Welling: one reparameterised sample,
closed-form KL) or 'iwae' (Burda et al.: the IWAE bound with `config.vae.train_k` samples);
the loss is the negative bound per example, in nats. Held out: the ELBO and the IWAE bound for
every k in `config.vae.eval_k` (k = 1 is the ELBO's Monte Carlo form).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib.errors import ConfigError
from lib.tasks.bits_per_dim import bits_per_dim
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.state import TrainState
from research.vae.model import VAE

OBJECTIVES = ("elbo", "iwae")
BINARIZATIONS = ("dynamic", "threshold")


def num_dims(config) -> int:
  """D = H W C binary pixels."""
  return int(config.data.image_size) ** 2 * int(config.data.channels)


def model_of(config):
  m = ml_collections.ConfigDict(config.model.to_dict())
  m.num_pixels = num_dims(config)
  return build_model(m)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


def binarize(config, images, rng):
  """Images in [-1, 1] -> {0, 1} float32 (config.vae.binarize)."""
  kind = config.vae.binarize
  p = (images.astype(jnp.float32) + 1.0) * 0.5
  if kind == "dynamic":
    return (jax.random.uniform(rng, p.shape) < p).astype(jnp.float32)
  if kind == "threshold":
    return (p > 0.5).astype(jnp.float32)
  raise ConfigError(f"config.vae.binarize={kind!r}; use one of {BINARIZATIONS}")


def init(config, rng, batch) -> TrainState:
  k_init, k_z = jax.random.split(rng)
  x = binarize(config, batch["image"][:1], k_z)
  variables = model_of(config).init(k_init, x, k_z)
  return TrainState.create(variables, optimizer_of(config), config.ema_decay)


def _bound(model, params, x, rng, config):
  """(the training bound per example, metrics)."""
  kind = config.vae.objective
  if kind == "elbo":
    elbo, recon, kl = model.apply({"params": params}, x, rng, method=VAE.elbo)
    return elbo, {"recon_log_lik": jnp.mean(recon), "kl": jnp.mean(kl)}
  if kind == "iwae":
    return model.apply({"params": params}, x, rng, int(config.vae.train_k),
                       method=VAE.iwae_bound), {}
  raise ConfigError(f"config.vae.objective={kind!r}; use one of {OBJECTIVES}")


def train_step(config, state: TrainState, batch, rng):
  model, tx = model_of(config), optimizer_of(config)
  d = num_dims(config)

  def loss_fn(params, micro, r):
    k_bin, k_z = jax.random.split(r)
    bound, terms = _bound(model, params, binarize(config, micro["image"], k_bin), k_z, config)
    loss = -jnp.mean(bound)                               # nats per example
    return loss, {"bpd": bits_per_dim(loss, d), **terms}

  (loss, aux), grads = value_and_grad_accumulated(loss_fn, state.params, batch, rng,
                                                  config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay)
  params = new_state.params
  return new_state, {"loss": loss, **aux, "grad_norm": optax.global_norm(grads),
                     "param_norm": optax.global_norm(params)}


def log_likelihoods(config, state: TrainState, images, rng):
  """{'elbo': closed-form-KL ELBO, 'iwae{k}': IWAE-k for k in config.vae.eval_k} per example
  [B], nats; one binarization draw shared by all bounds."""
  model, params = model_of(config), state.eval_params
  k_bin, k_elbo, k_iwae = jax.random.split(rng, 3)
  x = binarize(config, images, k_bin)
  out = {"elbo": model.apply({"params": params}, x, k_elbo, method=VAE.elbo)[0]}
  for i, k in enumerate(config.vae.eval_k):
    out[f"iwae{int(k)}"] = model.apply({"params": params}, x, jax.random.fold_in(k_iwae, i),
                                       int(k), method=VAE.iwae_bound)
  return out


def sample(config, state: TrainState, rng, n: int, labels=None):
  """n decoder means p(x|z), z ~ N(0, I), as images [n, H, W, C] in [-1, 1] (2p - 1), as the
  official get_samples shows them."""
  del labels
  model = model_of(config)
  z = jax.random.normal(rng, (n, model.latent_dim))
  logits = model.apply({"params": state.eval_params}, z, method=VAE.decode)
  shape = (n, int(config.data.image_size), int(config.data.image_size), int(config.data.channels))
  return (2.0 * jax.nn.sigmoid(logits) - 1.0).reshape(shape)
