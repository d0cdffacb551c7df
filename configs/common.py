"""The argument parser and the defaults every config shares.

A config file defines `get_config(arg)`; `arg` is a bare variant name (`digits`) or
`key=value,...` pairs (`variant=digits,steps=200`). `parse_arg` turns it into a ConfigDict
whose fields the config file reads; `base_config` gives the keys every run has, so that
`--config.key=value` overrides are checked (unknown key or wrong type) by ml_collections.
"""
from __future__ import annotations

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses 'variant' or 'key=value,key=value' into a ConfigDict over `defaults`."""
  out = ml_collections.ConfigDict(defaults)
  if not arg:
    return out
  for i, item in enumerate(arg.split(",")):
    if "=" not in item:
      if i != 0:
        raise ValueError(f"config arg {arg!r}: only the first item may be a bare variant name")
      out.variant = item
      continue
    key, value = item.split("=", 1)
    if key not in out:
      raise KeyError(f"config arg {arg!r}: unknown key {key!r}; known: {sorted(out.keys())}")
    kind = type(out[key])
    if kind is bool:
      out[key] = value.lower() in ("1", "true", "yes")
    else:
      out[key] = kind(value)
  return out


def base_config() -> ml_collections.ConfigDict:
  """Keys every run has. Config files fill and extend these, then return them locked."""
  c = ml_collections.ConfigDict()
  c.task = ""               # import path of the task module (init, train_step, ...)
  c.seed = 0
  c.total_steps = 1000
  c.time_budget_s = 0.0         # > 0: stop at the first log point past this many seconds of
                                # training (summed over resumes; evaluation not counted)
  c.log_every = 50
  c.compute_dtype = "float32"   # params stay float32; activations in this dtype
  c.ema_decay = 0.0             # 0 disables the EMA of params
  c.init_from = ""              # a workdir whose latest params start this run (on purpose)
  c.nan_guard = True            # stop with the step and metric named on NaN/Inf

  c.model = ml_collections.ConfigDict()
  c.model.name = ""             # import path of a flax module; other keys are its kwargs

  c.data = ml_collections.ConfigDict()
  c.data.source = "digits"
  c.data.image_size = 32
  c.data.channels = 1
  c.data.batch_size = 128       # global batch size
  c.data.augment = False
  c.data.train_examples = 0     # > 0: train on a fixed random subset of this many (limited data)
  c.data.train_examples_seed = 0
  c.data.data_dir = ""
  c.data.name = ""
  c.data.path = ""
  c.data.train_split = "train"
  c.data.eval_split = "test"

  c.optimizer = optimizer_config()

  c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, model=1))
  c.sharding = ml_collections.ConfigDict()
  c.sharding.rules = ()         # ((regex on 'a/b/kernel', (axis or None, ...)), ...)
  c.sharding.fsdp_min_size = 2**14  # params with fewer elements stay replicated over fsdp
  # "" (the rules above + the FSDP rule), replicate, data, fsdp, fsdp_tp:
  # lib/train/sharding_presets.py
  c.sharding.preset = ""

  # Profiler window: steps start .. start+steps-1 traced into tb/plugins/profile (0 = off).
  c.profile = ml_collections.ConfigDict(dict(start=0, steps=5))

  c.checkpoint = ml_collections.ConfigDict(dict(every_steps=500, keep=3, async_save=True))

  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 500
  c.eval.evaluators = ("samples",)
  c.eval.num_samples = 64
  c.eval.batch_size = 256
  # Generator evaluators (conditional_accuracy, fid, kid, pr): a domain classifier from
  # lib/metrics/weights (or 'inception:/path/to/weights.npz'), samples per evaluation, and the
  # reference split whose features are computed once and cached in the workdir.
  c.eval.extractor = "vit_digits"
  c.eval.metric_samples = 1000
  c.eval.reference_split = "train"
  c.eval.kid_subset_size = 100
  return c


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict(dict(
      name="adamw",             # adamw | adam | sgd | lamb
      learning_rate=1e-3,
      schedule="cosine",        # constant | cosine | linear | rsqrt
      warmup_steps=0,
      decay_steps=0,            # cosine/linear: steps after warm-up to the final lr (0: the run)
      lr_final=0.0,             # cosine: the lr it decays to (R3GAN: 5e-5 from 2e-4)
      b1=0.9, b2=0.999, eps=1e-8,
      b2_final=0.0,             # > 0: adam's beta2 follows the cosine from b2 to this (R3GAN)
      momentum=0.9,             # sgd only
      weight_decay=0.0,
      wd_mask=r".*kernel$",     # regex on param paths that receive weight decay
      clip_norm=0.0,            # 0 disables global-norm clipping
      accumulate_steps=1,       # micro-batches per update (gradient accumulation)
      lr_multipliers=(),        # ((regex, multiplier), ...), e.g. StyleGAN2 mapping net 0.01
  ))
  c.update(overrides)
  return c
