"""Masked generative transformers over a frozen tokenizer's tokens: MaskGIT (Chang et al.
2022), MAGE (Li et al. 2023) and MaskBit (Weber et al. 2024), one task (issue 14).

Task contract (DESIGN): init, train_step, sample (what the generator evaluators call),
num_conditional_classes; also `generate_tokens` (iterative decoding from any partly known
tokens), `edit` (inpainting / outpainting of a region of real images' tokens), `features`
(MAGE's linear probe) and `image_tokens`.

Stage 1, the tokenizer, is a finished lib.tasks.autoencoder run named by
`config.tokenizer.workdir` (its newest checkpoint that verifies, read with
lib.train.restore.restore_run; its config gives the model). Its params live in the train
state (`tokenizer_params`, `tokenizer_model_state`), frozen: the images are tokenized inside
the jitted step under stop_gradient, the update passes them through, and they are
checkpointed with the generator, so a resumed run keeps its tokenizer. `workdir=''` takes a
randomly initialised tokenizer `config.tokenizer.model` (seed `config.tokenizer.seed`) with
a warning: what keeps the smoke variants self-contained, useless for real samples.

Training (MaskGIT Sec. 3.2, Eq. 1): per example r ~ U(0, 1), ceil(gamma(r) L) of the L token
units masked uniformly at random (gamma from lib/tasks/mask_schedules, `masked.schedule`),
or MAGE's ratio from a truncated normal (`masked.ratio='truncated_normal'`);
L_mask = - E[ sum_{masked i} log p(y_i | Y_masked) ], here the mean cross-entropy over the
masked units with label smoothing `masked.label_smoothing` (0.1, the official config).
Classifier-free guidance: the label is replaced by the null class with probability
`masked.label_dropout` (0.1, MaskBit's class_label_dropout).

Units: MaskGIT predicts one token id per position (G = 1 group, K = codebook size); MaskBit
splits each LFQ token of `bits` bits into G = `masked.groups` groups of bits / G bits (its
codebook_splits), each group masked, predicted and sampled as its own unit (K = 2^(bits/G)),
L = N G. Group g of token id x is (x >> g b) & (2^b - 1), the inverse sum_g x_g 2^(g b).

Sampling: lib/tasks/masked_decoding.decode (MaskGIT's iterative decoding, T =
`masked.num_iter`, `masked.choice_temperature`, the same schedule), with guidance as MaskBit
and MUSE: logits = l_c + s (l_c - l_null), s = `masked.guidance_scale` (0: one pass, no
guidance). MaskBit's guidance annealing is not implemented (constant s).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lib.errors import ConfigError
from lib.tasks import mask_schedules
from lib.tasks.masked_decoding import decode
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.imports import build_model
from lib.train.optim import make_optimizer
from lib.train.frozen_run import load_frozen_run
from lib.train.state import TrainState

TOKENIZER_TASK = "lib.tasks.autoencoder"
RATIOS = ("schedule", "truncated_normal")


@flax.struct.dataclass
class MaskedTokensState(TrainState):
  tokenizer_params: Any = None          # frozen
  tokenizer_model_state: Any = None


# --- settings and the frozen tokenizer --------------------------------------------------------

def _settings(config):
  m = config.get("masked")
  if m is None:
    raise ConfigError("task lib.tasks.masked_tokens needs a config.masked block (schedule, "
                      "num_iter, ...): see configs/maskgit.py")
  if m.ratio not in RATIOS:
    raise ConfigError(f"config.masked.ratio={m.ratio!r}; use one of {RATIOS}.")
  mask_schedules.gamma(0.0, m.schedule)      # names the schedule when it is unknown
  return m


def _tokenizer_fix(workdir: str) -> str:
  return (f"train a tokenizer there first (python launch.py --config "
          f"configs/vqgan.py:digits,quantizer=ema_vq --workdir {workdir}), name an existing "
          "tokenizer run in config.tokenizer.workdir, or set config.tokenizer.workdir='' for "
          "a randomly initialised tokenizer (smoke tests only)")


def _load_tokenizer(workdir: str):
  """The frozen tokenizer run (lib/train/frozen_run.py): (config, params, model_state)."""
  run = load_frozen_run(workdir, "tokenizer.workdir", "tokenizer", _tokenizer_fix(workdir),
                        task=TOKENIZER_TASK)
  return run.config, run.params, run.model_state


def tokenizer_config(config) -> ml_collections.ConfigDict:
  """The tokenizer's config: the run's own, or one holding config.tokenizer.model."""
  t = config.tokenizer
  if t.workdir:
    return _load_tokenizer(t.workdir)[0]
  if not t.model.get("name"):
    raise ConfigError("config.tokenizer.workdir is empty and config.tokenizer.model names no "
                      "model: name a tokenizer run, or a Tokenizer for a random one")
  return ml_collections.ConfigDict(dict(model=t.model.to_dict(), compute_dtype="float32",
                                        data=config.data.to_dict()))


def tokenizer_of(config):
  tc = tokenizer_config(config)
  return build_model(tc.model, tc.get("compute_dtype", "float32"))


def token_layout(config) -> dict:
  """num_tokens N, grid (h, w), groups G, values K per unit, and bits per group (or 0)."""
  from research.vqgan.model import codebook_size
  tc = tokenizer_config(config)
  for key in ("image_size", "channels"):
    if tc.data.get(key) != config.data.get(key):
      raise ConfigError(f"config.tokenizer: the tokenizer reads data.{key}="
                        f"{tc.data.get(key)}, this run data.{key}={config.data.get(key)}; "
                        "train the generator on the tokenizer's data")
  side = int(config.data.image_size) // 2 ** (len(tc.model.ch_mult) - 1)
  kind, kwargs = tc.model.quantizer, dict(tc.model.get("quantizer_kwargs") or {})
  groups = int(config.masked.groups)
  bits = 0
  if config.model.get("input", "embedding") == "bits":
    if kind != "lfq":
      raise ConfigError(f"config.model.input='bits' (MaskBit) needs an LFQ tokenizer; "
                        f"config.tokenizer's quantizer is {kind!r}: train one with "
                        "configs/lfq.py")
    total = int(kwargs.get("bits", 10))
    if total % groups:
      raise ConfigError(f"config.masked.groups={groups} does not divide the tokenizer's "
                        f"{total} bits; use a divisor of {total}")
    bits = total // groups
    values = 2 ** bits
  else:
    if groups != 1:
      raise ConfigError(f"config.masked.groups={groups} needs config.model.input='bits'")
    values = codebook_size(kind, kwargs)
  return dict(num_tokens=side * side, grid=(side, side), groups=groups, values=values,
              bits_per_group=bits)


def num_conditional_classes(config) -> int:
  return int(config.masked.num_classes)


def model_of(config):
  lay = token_layout(config)
  c = ml_collections.ConfigDict(config.model.to_dict())
  c.update(codebook_size=lay["values"], num_tokens=lay["num_tokens"], groups=lay["groups"],
           num_classes=num_conditional_classes(config))
  return build_model(c, config.compute_dtype)


def optimizer_of(config):
  return make_optimizer(config.optimizer, config.total_steps)


# --- tokens ------------------------------------------------------------------------------------

def split_groups(ids, groups: int, bits: int):
  """ids [...] -> [..., G] group ids (group g = bits g*b .. g*b + b - 1)."""
  if groups == 1:
    return ids[..., None]
  shifts = jnp.arange(groups, dtype=jnp.int32) * bits
  return (ids[..., None] >> shifts) & (2 ** bits - 1)


def combine_groups(groups_ids, bits: int):
  """[..., G] group ids -> ids [...] = sum_g x_g 2^(g b)."""
  if groups_ids.shape[-1] == 1:
    return groups_ids[..., 0]
  shifts = jnp.arange(groups_ids.shape[-1], dtype=jnp.int32) * bits
  return jnp.sum(groups_ids << shifts, axis=-1)


def _tokenizer_variables(state):
  return {"params": state.tokenizer_params, **(state.tokenizer_model_state or {})}


def image_tokens(config, state, images):
  """images [B, H, W, C] -> units [B, N, G] int32 of the frozen tokenizer (no gradient)."""
  lay = token_layout(config)
  tok = tokenizer_of(config)
  ids = tok.apply(_tokenizer_variables(state), images, method=tok.encode_indices)
  ids = jax.lax.stop_gradient(ids).reshape(ids.shape[0], -1).astype(jnp.int32)
  return split_groups(ids, lay["groups"], lay["bits_per_group"])


def decode_tokens(config, state, units):
  """units [B, N, G] -> images [B, H, W, C] in [-1, 1] (the tokenizer's decoder)."""
  lay = token_layout(config)
  tok = tokenizer_of(config)
  ids = combine_groups(jnp.asarray(units, jnp.int32), lay["bits_per_group"])
  ids = ids.reshape((ids.shape[0],) + lay["grid"])
  images = tok.apply(_tokenizer_variables(state), ids, method=tok.decode_indices)
  return jnp.clip(images.astype(jnp.float32), -1.0, 1.0)


# --- init and the train step ----------------------------------------------------------------------

def init(config, rng, batch) -> MaskedTokensState:
  _settings(config)
  lay = token_layout(config)
  k_model, k_tok = jax.random.split(rng)
  t = config.tokenizer
  if t.workdir:
    _, tok_params, tok_state = _load_tokenizer(t.workdir)
    tok_params, tok_state = jax.tree.map(jnp.asarray, (tok_params, tok_state))
  else:
    warnings.warn("config.tokenizer.workdir is empty: the generator trains on the tokens of a "
                  "randomly initialised tokenizer (fine for smoke tests, meaningless samples); "
                  "name a trained tokenizer run for real results")
    seed = jax.random.key(int(t.seed))
    variables = dict(tokenizer_of(config).init({"params": seed, "quantizer": seed},
                                               batch["image"][:1], train=False))
    tok_params = variables.pop("params")
    tok_state = variables
  units = jnp.zeros((1, lay["num_tokens"], lay["groups"]), jnp.int32)
  labels = jnp.zeros((1,), jnp.int32)
  variables = model_of(config).init({"params": k_model, "dropout": k_model}, units, labels,
                                    train=False)
  state = TrainState.create(variables, optimizer_of(config), config.ema_decay)
  return MaskedTokensState(**{f.name: getattr(state, f.name) for f in dataclasses.fields(state)},
                           tokenizer_params=tok_params, tokenizer_model_state=tok_state)


def mask_ratio(config, rng, n: int):
  """[n] training mask ratios: gamma(r), r ~ U(0, 1), or MAGE's truncated normal."""
  m = config.masked
  if m.ratio == "truncated_normal":
    return mask_schedules.truncated_normal_ratio(rng, (n,), m.ratio_mean, m.ratio_std,
                                                 m.ratio_min, m.ratio_max)
  return mask_schedules.gamma(jax.random.uniform(rng, (n,)), m.schedule)


def random_mask(rng, ratio, length: int):
  """[B, length] bool with exactly max(1, ceil(ratio_b * length)) True per row, uniformly."""
  n_mask = jnp.maximum(jnp.ceil(ratio * length).astype(jnp.int32), 1)
  rank = jnp.argsort(jnp.argsort(jax.random.uniform(rng, (ratio.shape[0], length)), -1), -1)
  return rank < n_mask[:, None]


def masked_cross_entropy(logits, targets, masked, label_smoothing: float = 0.0):
  """Mean cross-entropy over the masked units only (L_mask), smoothed one-hot targets."""
  onehot = optax.smooth_labels(jax.nn.one_hot(targets, logits.shape[-1]), label_smoothing)
  ce = optax.softmax_cross_entropy(logits.astype(jnp.float32), onehot)
  w = masked.astype(jnp.float32)
  return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


def conditioning_labels(config, labels, n: int):
  """Labels [n] int32, or the null class (id num_classes) when unconditional."""
  k = num_conditional_classes(config)
  if not k or labels is None:
    return jnp.full((n,), k, jnp.int32)
  return jnp.asarray(labels, jnp.int32)


def train_step(config, state: MaskedTokensState, batch, rng):
  m = _settings(config)
  lay = token_layout(config)
  model, tx = model_of(config), optimizer_of(config)
  k_null = num_conditional_classes(config)

  def loss_fn(params, micro, r):
    k_ratio, k_mask, k_drop, k_dropout = jax.random.split(r, 4)
    units = image_tokens(config, state, micro["image"])              # [b, N, G], no gradient
    b = units.shape[0]
    ratio = mask_ratio(config, k_ratio, b)
    masked = random_mask(k_mask, ratio, lay["num_tokens"] * lay["groups"]).reshape(units.shape)
    inputs = jnp.where(masked, lay["values"], units)                 # [MASK] = K
    labels = conditioning_labels(config, micro.get("label"), b)
    if k_null and m.label_dropout:
      drop = jax.random.bernoulli(k_drop, m.label_dropout, (b,))     # CFG: p -> null class
      labels = jnp.where(drop, k_null, labels)
    logits = model.apply({"params": params}, inputs, labels, train=True,
                         rngs={"dropout": k_dropout})
    loss = masked_cross_entropy(logits, units, masked, m.label_smoothing)
    w = masked.astype(jnp.float32)
    hit = (jnp.argmax(logits, -1) == units).astype(jnp.float32)
    return loss, {"masked_accuracy": jnp.sum(hit * w) / jnp.maximum(jnp.sum(w), 1.0),
                  "mask_ratio": jnp.mean(w)}

  (loss, aux), grads = value_and_grad_accumulated(
      loss_fn, state.params, batch, rng, config.optimizer.accumulate_steps)
  new_state = state.apply_gradients(grads, tx, config.ema_decay)
  params = new_state.params
  return new_state, {"loss": loss, **aux, "grad_norm": optax.global_norm(grads),
                     "param_norm": optax.global_norm(params)}


# --- sampling and editing -------------------------------------------------------------------

def guided_logits_fn(config, state, labels, guidance_scale: float | None = None):
  """ids [B, L] -> logits [B, L, K]: l_c + s (l_c - l_null) (one pass when s = 0)."""
  lay = token_layout(config)
  model = model_of(config)
  s = float(config.masked.guidance_scale if guidance_scale is None else guidance_scale)
  k_null = num_conditional_classes(config)
  variables = {"params": state.eval_params}

  def fn(ids):
    b = ids.shape[0]
    units = ids.reshape(b, lay["num_tokens"], lay["groups"])
    if not s or not k_null:
      out = model.apply(variables, units, labels, train=False)
    else:
      both = model.apply(variables, jnp.concatenate([units, units]),
                         jnp.concatenate([labels, jnp.full_like(labels, k_null)]), train=False)
      cond, null = both[:b], both[b:]
      out = cond + s * (cond - null)                               # classifier-free guidance
    return out.reshape(b, -1, lay["values"])
  return fn


def generate_tokens(config, state, rng, units, unknown, labels=None, num_iter=None,
                    guidance_scale=None):
  """Iterative decoding of the `unknown` units [B, N, G] (bool) of `units` [B, N, G]:
  (units [B, N, G] all known, history [T, B, N * G] with [MASK] = K where still masked)."""
  m = config.masked
  lay = token_layout(config)
  b = units.shape[0]
  labels = conditioning_labels(config, labels, b)
  out, history = decode(guided_logits_fn(config, state, labels, guidance_scale),
                        jnp.reshape(units, (b, -1)), jnp.reshape(unknown, (b, -1)), rng,
                        num_iter=int(num_iter or m.num_iter),
                        choice_temperature=float(m.choice_temperature), schedule=m.schedule,
                        mask_id=lay["values"])
  return out.reshape(units.shape), history


def sample(config, state, rng, n: int, labels=None):
  """n images [n, H, W, C] in [-1, 1] from all-[MASK] tokens (EMA params when kept); labels
  default to random classes when class-conditional."""
  lay = token_layout(config)
  k = num_conditional_classes(config)
  k_label, k_decode = jax.random.split(rng)
  if k and labels is None:
    labels = jax.random.randint(k_label, (n,), 0, k)
  shape = (n, lay["num_tokens"], lay["groups"])
  units, _ = generate_tokens(config, state, k_decode, jnp.zeros(shape, jnp.int32),
                             jnp.ones(shape, bool), labels)
  return decode_tokens(config, state, units)


def region_mask(grid: tuple[int, int], top: int, left: int, height: int, width: int,
                outpaint: bool = False) -> np.ndarray:
  """[h, w] bool on the token grid: True where tokens are regenerated. Inpainting: the box;
  outpainting (`outpaint=True`): everything outside it."""
  box = np.zeros(grid, bool)
  box[top:top + height, left:left + width] = True
  return ~box if outpaint else box


def edit(config, state, rng, images, region, labels=None):
  """MaskGIT's editing (Sec. 4.3): the tokens of real `images` under `region` ([h, w] or
  [B, h, w] bool on the token grid, True = regenerate) are masked and decoded again, the rest
  kept exactly. Returns (edited images [B, H, W, C], units [B, N, G])."""
  lay = token_layout(config)
  units = image_tokens(config, state, images)
  b = units.shape[0]
  region = jnp.broadcast_to(jnp.asarray(region, bool), (b,) + lay["grid"])
  unknown = jnp.broadcast_to(region.reshape(b, -1, 1), units.shape)
  out, _ = generate_tokens(config, state, rng, units, unknown, labels)
  return decode_tokens(config, state, out), out


def features(config, state, images):
  """[B, width]: the transformer's final hidden states on the unmasked tokens of `images`,
  averaged over the image positions, with the null class (MAGE's linear-probe features)."""
  units = image_tokens(config, state, images)
  labels = conditioning_labels(config, None, units.shape[0])
  h = model_of(config).apply({"params": state.eval_params}, units, labels, train=False,
                             features=True)
  return jnp.mean(h[:, 1:], axis=1)
