"""Checks a config and its data before anything is written (DESIGN: Workdir contract).

`validate_config` reads only the config: types and ranges of the keys every run has, the
optimizers (every `optimizer*` block), the task and model import paths, evaluator names, the
data source. `validate_data` reads the first example of every split the run will use (the
train split, the eval split when an evaluator reads it, the reference split of the generator
metrics), so missing data or an unreadable first file stops the run at once, not after
training. Each problem is a ConfigError or DataError naming the key and the fix.
"""
from __future__ import annotations

import ml_collections

from lib.data.sources import SOURCES, make_source
from lib.errors import ConfigError, DataError, UserError
from lib.train.imports import import_symbol

COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
OPTIMIZERS = ("adamw", "adam", "sgd", "lamb")
SCHEDULES = ("constant", "cosine", "linear", "rsqrt")
# Evaluators that read the eval split, and those that read eval.reference_split.
EVAL_SPLIT_EVALUATORS = ("accuracy", "linear_probe", "fine_tune", "mae_reconstructions",
                         "reconstruction", "reconstruction_grid", "translation_grid",
                         "translation_fid", "label_preservation", "paired_metrics",
                         "cam_heatmaps", "likelihood")
REFERENCE_SPLIT_EVALUATORS = ("fid", "kid", "pr", "translation_fid")


def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def _integer(config, key: str, minimum: int, why: str = "") -> int:
  value = _get(config, key)
  if isinstance(value, bool) or not isinstance(value, int):
    raise ConfigError(f"config.{key}={value!r} must be an integer; pass "
                      f"--config.{key}=<integer >= {minimum}>")
  if value < minimum:
    raise ConfigError(f"config.{key}={value} must be >= {minimum}{why}; pass "
                      f"--config.{key}=<integer >= {minimum}>")
  return value


def _number(config, key: str, low: float, high: float, high_open: bool = False) -> float:
  value = _get(config, key)
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ConfigError(f"config.{key}={value!r} must be a number")
  if value != value:
    raise ConfigError(f"config.{key}=nan must be a number in [{low}, {high}]")
  if value < low or value > high or (high_open and value == high):
    bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
    raise ConfigError(f"config.{key}={value} is out of range {bound}")
  return float(value)


def _choice(config, key: str, choices) -> None:
  value = _get(config, key)
  if value not in choices:
    raise ConfigError(f"config.{key}={value!r}: use one of {', '.join(map(str, choices))}")


def _optimizers(config) -> list[str]:
  return [k for k in config.keys() if k.startswith("optimizer")
          and isinstance(config[k], ml_collections.ConfigDict) and "learning_rate" in config[k]]


def learning_rate_keys(config) -> list[str]:
  """The learning-rate keys this config's task uses ('optimizer.learning_rate', or G's and D's
  for a GAN), for advice in error messages."""
  names = _optimizers(config)
  if config.get("task") == "lib.tasks.gan":
    names = [n for n in names if n != "optimizer"] or names
  return [f"{n}.learning_rate" for n in names]


def validate_config(config: ml_collections.ConfigDict) -> None:
  if not config.get("task"):
    raise ConfigError("config.task is empty: name a task module, e.g. 'lib.tasks.classify'")
  try:
    task = import_symbol(config.task)
  except ValueError as e:
    raise ConfigError(f"config.task: {e}") from e
  missing = [f for f in ("init", "train_step") if not hasattr(task, f)]
  if missing:
    raise ConfigError(f"config.task={config.task!r} has no {', '.join(missing)}: it is not a "
                      f"task module (see lib/tasks)")
  _integer(config, "seed", 0)
  _integer(config, "total_steps", 1)
  _integer(config, "log_every", 1)
  if "time_budget_s" in config:
    _number(config, "time_budget_s", 0.0, float("inf"))
  _integer(config, "data.batch_size", 1)
  _integer(config, "checkpoint.every_steps", 1)
  _integer(config, "checkpoint.keep", 1)
  _integer(config, "eval.every_steps", 1)
  _integer(config, "eval.batch_size", 1)
  _integer(config, "eval.num_samples", 1)
  if "metric_samples" in config.eval:
    _integer(config, "eval.metric_samples", 2)
  _choice(config, "compute_dtype", COMPUTE_DTYPES)
  _number(config, "ema_decay", 0.0, 1.0, high_open=True)
  for name in _optimizers(config):
    _choice(config, f"{name}.name", OPTIMIZERS)
    _choice(config, f"{name}.schedule", SCHEDULES)
    _number(config, f"{name}.learning_rate", 0.0, float("inf"))
    _integer(config, f"{name}.warmup_steps", 0)
    acc = _integer(config, f"{name}.accumulate_steps", 1)
    if config.data.batch_size % acc:
      raise ConfigError(f"config.{name}.accumulate_steps={acc} does not divide "
                        f"data.batch_size={config.data.batch_size}")
  _choice(config, "data.source", SOURCES)
  model_name = config.get("model", {}).get("name", "")
  if model_name:
    try:
      import_symbol(model_name)
    except ValueError as e:
      raise ConfigError(f"config.model.name: {e}") from e
  from lib.train import evaluators as evaluators_lib  # the registry (fills on import)
  from lib.train import generator_evaluators  # noqa: F401
  from lib.train import likelihood_evaluators  # noqa: F401
  from lib.train import representation_evaluators  # noqa: F401
  from lib.train import reconstruction_evaluators  # noqa: F401
  from lib.train import ring_evaluators  # noqa: F401
  from lib.train import translation_evaluators  # noqa: F401
  known = evaluators_lib.registered_names()
  unknown = [n for n in config.eval.evaluators if n not in known]
  if unknown:
    raise ConfigError(f"config.eval.evaluators names {unknown}; known evaluators: {known}")
  if config.get("init_from"):
    import os
    if not os.path.isdir(os.path.join(config.init_from, "checkpoints")):
      raise ConfigError(f"config.init_from={config.init_from!r} holds no checkpoints folder; "
                        f"name the workdir of a finished run")


def splits_used(config: ml_collections.ConfigDict, task) -> dict[str, str]:
  """{config key: split} for every split this run reads."""
  used = {"data.train_split": config.data.train_split}
  names = set(config.eval.evaluators)
  predictive = not hasattr(task, "sample")
  if names & set(EVAL_SPLIT_EVALUATORS) or ("samples" in names and predictive):
    used["data.eval_split"] = config.data.eval_split
  if names & set(REFERENCE_SPLIT_EVALUATORS):
    used["eval.reference_split"] = config.eval.reference_split
  return used


def validate_data(config: ml_collections.ConfigDict, task) -> None:
  for key, split in splits_used(config, task).items():
    try:
      source = make_source(config.data, split)
      if len(source) == 0:
        raise DataError(f"split {split!r} is empty")
      source[0]
    except UserError as e:
      if isinstance(e, DataError) and str(e).startswith(f"config.{key}"):
        raise
      raise DataError(f"config.{key}={split!r} (data.source={config.data.source!r}): {e}") from e
    except (ValueError, FileNotFoundError, KeyError, IndexError, OSError) as e:
      raise DataError(f"config.{key}={split!r} (data.source={config.data.source!r}): {e}") from e
