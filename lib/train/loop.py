"""The training loop, flat and readable top to bottom (DESIGN: How data flows).

config -> mesh -> data -> abstract state (eval_shape) -> sharded init (jit out_shardings) or
resume from the workdir -> jitted train_step (in/out shardings, donation) -> metrics, evaluators,
checkpoints -> results.json.
"""
from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from lib import data as data_lib
from lib.train import checkpoint as ckpt
from lib.train import evaluators as evaluators_lib
from lib.train import generator_evaluators  # noqa: F401  (registers fid, kid, pr, ...)
from lib.train import sharding as sh
from lib.train import workdir as workdir_lib
from lib.train.imports import import_symbol
from lib.train.mesh import make_mesh
from lib.train.nan_guard import check_finite
from lib.train.preemption import Preempted, PreemptionGuard
from lib.train.writers import MetricWriter


def _abstract_batch(local_batch: dict, mesh) -> dict:
  n = jax.process_count()
  sharding = sh.batch_sharding(mesh)
  return {k: jax.ShapeDtypeStruct((v.shape[0] * n,) + v.shape[1:], v.dtype, sharding=sharding)
          for k, v in local_batch.items()}


def _peek(iterator) -> dict:
  state = iterator.get_state()
  batch = next(iterator)
  iterator.set_state(state)
  return batch


def train_iterator(config: ml_collections.ConfigDict):
  return data_lib.make_iterator(
      config.data, config.data.train_split, global_batch_size=config.data.batch_size,
      seed=config.seed, shuffle=True, augment=config.data.augment,
      process_index=jax.process_index(), process_count=jax.process_count())


class Trainer:
  """Holds what one run needs; `run()` trains to config.total_steps (resuming if possible)."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, devices=None,
               write_config: bool = True):
    self.config, self.workdir = config, workdir
    if not config.task:
      raise ValueError("config.task is empty: name a task module, e.g. 'lib.tasks.classify'")
    self.task = import_symbol(config.task)
    self.mesh = make_mesh(config.mesh, devices)              # fails before any compile
    sh.check_batch_divisible(config.data.batch_size, self.mesh)
    self.is_main = jax.process_index() == 0
    workdir_lib.prepare(workdir, config, self.is_main and write_config)
    self.train_iter = train_iterator(config)
    self.batch_sharding = sh.batch_sharding(self.mesh)
    self.example = _abstract_batch(_peek(self.train_iter), self.mesh)
    init_rng, self.train_rng = jax.random.split(jax.random.key(config.seed))
    init = functools.partial(self.task.init, config)
    with jax.set_mesh(self.mesh):
      self.abstract_state = jax.eval_shape(init, init_rng, self.example)
    self.state_shardings = sh.tree_shardings(self.abstract_state, self.mesh, config.sharding)
    self._init_fn = jax.jit(init, out_shardings=self.state_shardings)
    self._init_rng = init_rng
    self.trace_count = 0

    def counted_step(state, batch, rng):
      self.trace_count += 1  # runs at trace time only: counts compilations
      return self.task.train_step(config, state, batch, rng)

    self.step_fn = jax.jit(
        counted_step,
        in_shardings=(self.state_shardings, self.batch_sharding, sh.replicated(self.mesh)),
        out_shardings=(self.state_shardings, sh.replicated(self.mesh)),
        donate_argnums=(0,))
    self.manager = ckpt.make_manager(workdir, config.checkpoint.keep, config.checkpoint.async_save)

  # -- state -------------------------------------------------------------------------------
  def initial_state(self):
    """Resumes from the workdir's latest checkpoint, else a fresh sharded init."""
    target = ckpt.abstract_with_shardings(self.abstract_state, self.state_shardings)
    if self.manager.latest_step() is not None:
      state, data_state, rng, step = ckpt.restore(self.manager, target)
      if data_state is not None:
        self.train_iter.set_state(data_state)
      self.train_rng = rng
      logging.info("resumed from step %d in %s", step, self.workdir)
      return state
    with jax.set_mesh(self.mesh):
      state = self._init_fn(self._init_rng, self._zeros_batch())
    if self.config.init_from:
      state = self._load_init_from(state)
    return state

  def _zeros_batch(self):
    return {k: jax.device_put(np.zeros(v.shape, v.dtype), v.sharding)
            for k, v in self.example.items()}

  def _load_init_from(self, state):
    src = self.config.init_from
    manager = ckpt.make_manager(src, keep=1000, async_save=False)
    if manager.latest_step() is None:
      raise ckpt.CheckpointError(f"config.init_from={src!r} holds no checkpoint")
    target = ckpt.abstract_with_shardings(self.abstract_state, self.state_shardings)
    src_state, _, _, src_step = ckpt.restore(manager, target, with_data=False)
    logging.info("initialized params from %s step %d", src, src_step)
    return state.replace(params=src_state.params, model_state=src_state.model_state,
                         ema_params=getattr(src_state, "ema_params", None))

  # -- loop --------------------------------------------------------------------------------
  def run(self, stop_at: int | None = None) -> dict:
    """Trains to config.total_steps. `stop_at` interrupts after that step as a preemption
    would (checkpoint, then return {'stopped_at': step}); the next run resumes from it."""
    c = self.config
    state = self.initial_state()
    step = int(jax.device_get(state.step))
    evaluators = evaluators_lib.make_evaluators(c, self.task, self.mesh, self.state_shardings,
                                                self.workdir)
    writer = MetricWriter(self.workdir, enabled=self.is_main)
    last_ckpt = self.manager.latest_step()
    pending: list[tuple[int, Any]] = []
    t_last, steps_last = time.time(), step
    progress = _progress(step, c.total_steps, self.is_main)
    try:
      with PreemptionGuard() as guard, jax.set_mesh(self.mesh):
        while step < c.total_steps:
          batch = sh.global_batch(next(self.train_iter), self.mesh)
          state, metrics = self.step_fn(state, batch, jax.random.fold_in(self.train_rng, step))
          step += 1
          pending.append((step, metrics))
          last = step == c.total_steps
          stop = stop_at is not None and step >= stop_at and not last
          preempted = guard.requested  # read once: a signal arriving later waits a step
          save_now = last or stop or preempted or step % c.checkpoint.every_steps == 0
          eval_now = (not last) and step % c.eval.every_steps == 0
          if save_now or eval_now or step % c.log_every == 0:
            rows = jax.device_get(pending)
            pending = []
            for s, m in rows:
              if c.nan_guard:
                check_finite(s, m, last_ckpt, self.workdir)
            now = time.time()
            mean = {k: float(np.mean([m[k] for _, m in rows])) for k in rows[-1][1]}
            mean["steps_per_sec"] = (step - steps_last) / max(now - t_last, 1e-9)
            writer.write(step, mean)
            progress.update(step, mean)
            t_last, steps_last = now, step
          if save_now:
            ckpt.save(self.manager, step, state, self.train_iter.get_state(), self.train_rng)
            last_ckpt = step
          if eval_now:
            writer.write(step, evaluators_lib.run_all(evaluators, state, step, final=False))
            t_last = time.time()
          if preempted:
            self.manager.wait_until_finished()
            logging.warning("signal %d: saved step %d, exiting", guard.signum, step)
            raise Preempted(128 + guard.signum)
          if stop:
            self.manager.wait_until_finished()
            self.final_state = state
            return {"stopped_at": step}
        self.manager.wait_until_finished()
        results = evaluators_lib.run_all(evaluators, state, step, final=True)
    finally:
      progress.close()
    results = {"step": step, **results}
    writer.write(step, {k: v for k, v in results.items() if isinstance(v, (int, float))})
    writer.close()
    if self.is_main:
      with open(os.path.join(self.workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    self.final_state = state
    return results


class _progress:
  """A tqdm bar with steps/s and ETA on process 0 (silent elsewhere or without a terminal)."""

  def __init__(self, start: int, total: int, enabled: bool):
    self._bar = None
    if enabled:
      from tqdm import tqdm
      self._bar = tqdm(total=total, initial=start, dynamic_ncols=True, unit="step",
                       mininterval=1.0)
    self._n = start

  def update(self, step: int, metrics: dict) -> None:
    if self._bar is None:
      return
    self._bar.update(step - self._n)
    self._n = step
    shown = {k: f"{v:.4g}" for k, v in list(metrics.items())[:4]}
    self._bar.set_postfix(shown, refresh=False)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()


def train(config: ml_collections.ConfigDict, workdir: str) -> dict:
  return Trainer(config, workdir).run()
