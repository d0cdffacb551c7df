"""A finished run read as a frozen component of another run: DeiT's teacher (lib/tasks/distill),
MaskGIT's tokenizer (lib/tasks/masked_tokens), the latent-diffusion autoencoder
(lib/tasks/latent_space).

`load_frozen_run(workdir, key, name, fix, task=...)` checks that `workdir` holds a run (its
config.json) of the expected task, restores its newest checkpoint that verifies
(lib.train.restore.restore_run) and returns its config, task name and evaluation params (the
EMA params when the run kept them) with its model state, as host arrays. Each failure is one
ConfigError naming the config key (`key`), what the run was to be (`name`: "teacher",
"tokenizer", ...) and the fix (`fix`). The restore runs in a worker
thread: JAX's trace state and mesh context are thread-local, so it runs eagerly on one CPU
device even while the caller's init is traced under its run's mesh. Cached per process.
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
from typing import Any, NamedTuple

import jax

from lib.errors import ConfigError, UserError
from lib.train.restore import restore_run
from lib.train.workdir import read_config_json


class FrozenRun(NamedTuple):
  config: Any           # the run's ConfigDict
  task: Any             # its task module
  params: Any           # evaluation params (EMA when kept), host arrays
  model_state: dict     # its mutable collections (batch stats, codebook EMA), {} when none


@functools.lru_cache(maxsize=4)
def load_frozen_run(workdir: str, key: str, name: str, fix: str,
                    task: str | None = None) -> FrozenRun:
  """The run in `workdir`, frozen; `key` is the config key that named it, `name` what it is
  for, `fix` the advice every error ends with, `task` the task module the run must be of
  (None: any)."""
  where = f"config.{key}={workdir!r}"
  if not os.path.isdir(workdir):
    raise ConfigError(f"{where} does not exist; {fix}.")
  raw = read_config_json(workdir)
  if raw is None:
    raise ConfigError(f"{where} holds no run (no config.json); {fix}.")
  if task is not None and raw.get("task") != task:
    article = "an" if name[0] in "aeiou" else "a"
    raise ConfigError(f"{where} is a run of task {raw.get('task')!r}, not {article} {name} "
                      f"({task}); {fix}.")
  try:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      config, run_task, state, _ = pool.submit(restore_run, workdir).result()
  except UserError as e:
    raise ConfigError(f"{where} has no {name} to load ({e}); {fix}.") from e
  params, model_state = jax.device_get((state.eval_params,
                                        getattr(state, "model_state", None)))
  return FrozenRun(config, run_task, params, model_state or {})
