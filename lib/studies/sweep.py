"""Declaring, expanding and validating a sweep.

`configs/<paper>.py: get_sweep(arg)` returns a `Sweep`: a base config arg, a list of settings
(dicts of dotted config keys -> values, from `grid` or `random_search`), a list of seeds and
keys fixed for every run (a matched budget: the same `total_steps` for all). Expansion gives
one `Run` per (setting, seed); validation applies every override to the locked base config,
so an unknown key, a wrong type, an empty grid or a bad seed list stops before any run starts.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math
import os
import re
from typing import Any, Sequence

import numpy as np

from lib.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Sweep:
  config_arg: str                    # the arg of get_config for the base of every run
  settings: Sequence[dict]           # from grid() or random_search()
  seeds: Sequence[int] = (0,)
  fixed: dict = dataclasses.field(default_factory=dict)   # every run (matched budget)
  metric: str = "accuracy"           # the metric of results.json the report ranks by
  mode: str = "max"                  # max | min
  curve: str = "loss"                # the metrics.jsonl key of the learning-curve plot
  slurm: dict = dataclasses.field(default_factory=dict)   # submitit parameters
  # Extra table columns (results.json metrics, or the run statistics the report reads from
  # metrics.jsonl: steps_per_sec, step_memory_bytes), each also shown relative to `baseline`,
  # a setting of the sweep (e.g. {"model.attention": "dot_product"}) when one is given.
  columns: Sequence[str] = ()
  baseline: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Run:
  name: str
  overrides: dict          # setting + fixed + seed, dotted keys
  setting: dict            # the swept keys only
  seed: int


def grid(axes: dict) -> list[dict]:
  """Every combination of `axes` ({dotted key: [values]})."""
  if not isinstance(axes, dict) or not axes:
    raise ConfigError("sweep grid is empty: give at least one key with a list of values")
  for key, values in axes.items():
    if not isinstance(values, (list, tuple)) or len(values) == 0:
      raise ConfigError(f"sweep grid key {key!r}: needs a non-empty list of values, got "
                        f"{values!r}")
  keys = list(axes)
  return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


@dataclasses.dataclass(frozen=True)
class Choice:
  values: tuple


@dataclasses.dataclass(frozen=True)
class LogUniform:
  low: float
  high: float


@dataclasses.dataclass(frozen=True)
class Uniform:
  low: float
  high: float


def choice(*values):
  return Choice(tuple(values))


def log_uniform(low, high):
  return LogUniform(float(low), float(high))


def uniform(low, high):
  return Uniform(float(low), float(high))


def random_search(space: dict, num_trials: int, seed: int = 0) -> list[dict]:
  """`num_trials` settings drawn from `space` (Are GANs Created Equal?: a budgeted random
  search); the draw depends only on `seed`."""
  if not isinstance(space, dict) or not space:
    raise ConfigError("sweep random search space is empty")
  if not isinstance(num_trials, int) or num_trials < 1:
    raise ConfigError(f"random search num_trials must be a positive int, got {num_trials!r}")
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(num_trials):
    s = {}
    for key, dist in space.items():
      if isinstance(dist, Choice):
        v = dist.values[int(rng.integers(len(dist.values)))]
      elif isinstance(dist, LogUniform):
        v = float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
      elif isinstance(dist, Uniform):
        v = float(rng.uniform(dist.low, dist.high))
      else:
        raise ConfigError(f"random search key {key!r}: use choice(), uniform() or "
                          f"log_uniform(), got {dist!r}")
      s[key] = v.item() if isinstance(v, np.generic) else v
    out.append(s)
  return out


def _fmt(value) -> str:
  if isinstance(value, float):
    return f"{value:.4g}"
  return str(value).replace("/", "_").replace(" ", "")


def run_name(overrides: dict) -> str:
  """The workdir name: its overrides, last key part = value, joined by ','."""
  parts = [f"{k}={_fmt(v)}" for k, v in overrides.items()]
  name = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", ",".join(parts))
  return name[:200]


def load_config_module(path: str):
  if not os.path.exists(path):
    raise ConfigError(f"--sweep {path}: no such config file")
  spec = importlib.util.spec_from_file_location(
      "sweep_config_" + re.sub(r"\W", "_", path), path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def split_spec(spec: str) -> tuple[str, str | None]:
  path, _, arg = spec.partition(":")
  return path, (arg or None)


def load_sweep(spec: str) -> tuple[str, Sweep]:
  """('configs/x.py', Sweep) for 'configs/x.py:arg'."""
  path, arg = split_spec(spec)
  module = load_config_module(path)
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"--sweep {spec}: {path} defines no get_sweep(arg)")
  sweep = module.get_sweep(arg)
  if not isinstance(sweep, Sweep):
    raise ConfigError(f"--sweep {spec}: get_sweep must return lib.studies.sweep.Sweep, got "
                      f"{type(sweep).__name__}")
  return path, sweep


def _check_seeds(seeds) -> list[int]:
  if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)) or not seeds:
    raise ConfigError(f"sweep seeds must be a non-empty list of ints, got {seeds!r}")
  for s in seeds:
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
      raise ConfigError(f"sweep seeds must be ints, got {s!r} in {seeds!r}")
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f"sweep seeds repeat: {seeds!r}")
  return [int(s) for s in seeds]


def _apply(config, key: str, value) -> None:
  node = config
  parts = key.split(".")
  for i, part in enumerate(parts):
    known = sorted(node.keys()) if hasattr(node, "keys") else []
    if part not in known:
      raise ConfigError(f"sweep key {key!r}: the config has no key {'.'.join(parts[:i + 1])!r}"
                        f"; keys at that level: {', '.join(known)}")
    if i < len(parts) - 1:
      node = node[part]
  old = node[parts[-1]]
  if hasattr(old, "keys"):
    raise ConfigError(f"sweep key {key!r} names a group, not a value; name one of its keys")
  if isinstance(old, bool) != isinstance(value, bool) or (
      isinstance(old, (int, float)) and not isinstance(value, (int, float))):
    raise ConfigError(f"sweep key {key!r}: value {value!r} is a {type(value).__name__}, the "
                      f"config holds a {type(old).__name__} ({old!r})")
  try:
    node[parts[-1]] = value
  except (TypeError, ValueError) as e:
    raise ConfigError(f"sweep key {key!r}: value {value!r} does not fit ({e})") from e


def expand(config_path: str, sweep: Sweep) -> list[Run]:
  """The runs of `sweep`, each validated against the base config; raises ConfigError."""
  if not sweep.settings:
    raise ConfigError("sweep has no settings (empty grid or zero trials)")
  seeds = _check_seeds(sweep.seeds)
  if sweep.mode not in ("max", "min"):
    raise ConfigError(f"sweep mode must be 'max' or 'min', got {sweep.mode!r}")
  if sweep.baseline and not any(all(st.get(k) == v for k, v in sweep.baseline.items())
                                for st in sweep.settings):
    raise ConfigError(f"sweep baseline {sweep.baseline!r} is none of its settings: name one of "
                      f"them (e.g. {dict(sweep.settings[0])!r})")
  module = load_config_module(config_path)
  runs, names = [], set()
  for setting in sweep.settings:
    if not isinstance(setting, dict) or not setting:
      raise ConfigError(f"sweep setting {setting!r}: must be a non-empty dict of keys")
    for seed in seeds:
      overrides = {**sweep.fixed, **setting, "seed": seed}
      config = module.get_config(sweep.config_arg)
      config.lock()
      for key, value in overrides.items():
        _apply(config, key, value)
      name = run_name({**setting, "seed": seed})
      if name in names:
        raise ConfigError(f"sweep has two runs named {name!r}: a setting repeats")
      names.add(name)
      runs.append(Run(name=name, overrides=overrides, setting=dict(setting), seed=seed))
  return runs


def override_flag(key: str, value) -> str:
  """--config.key=value as launch.py (ml_collections config_flags) parses it back."""
  text = value if isinstance(value, str) else repr(value)
  return f"--config.{key}={text}"
