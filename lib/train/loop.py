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
from lib import xla_cpu_flags
from lib.errors import ConfigError, DiskFullError
from lib.train import checkpoint as ckpt
from lib.train import evaluators as evaluators_lib
from lib.train import generator_evaluators  # noqa: F401  (registers fid, kid, pr, ...)
from lib.train import likelihood_evaluators  # noqa: F401  (likelihood, temperature_grid)
from lib.train import representation_evaluators  # noqa: F401  (linear_probe, mae_reconstructions)
from lib.train import reconstruction_evaluators  # noqa: F401  (reconstruction, _grid)
from lib.train import ring_evaluators  # noqa: F401  (registers ring_modes)
from lib.train import translation_evaluators  # noqa: F401  (translation_grid, _fid, ...)
from lib.train import observability, profiling, run_log
from lib.train import sharding as sh
from lib.train import validate
from lib.train import workdir as workdir_lib
from lib.train.imports import import_symbol
from lib.train.mesh import make_mesh
from lib.train.nan_guard import check_finite
from lib.train.preemption import Preempted, PreemptionGuard
from lib.train.writers import MetricWriter, read_metrics, truncate_metrics


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
      process_index=jax.process_index(), process_count=jax.process_count(),
      limit=int(config.data.get("train_examples", 0) or 0),
      limit_seed=int(config.data.get("train_examples_seed", 0) or 0))


# The init program runs once, but XLA:CPU optimises it as hard as the step: a small GAN's init
# took 21 s to compile against 9 s without the expensive LLVM passes (it draws every parameter
# through threefry). Its values are deterministic either way; other backends keep defaults.
_CPU_INIT_COMPILER_OPTIONS = xla_cpu_flags.FAST_COMPILE


def _init_compiler_options(mesh) -> dict | None:
  platforms = {d.platform for d in mesh.devices.flat}
  return dict(_CPU_INIT_COMPILER_OPTIONS) if platforms == {"cpu"} else None


class Trainer:
  """Holds what one run needs; `run()` trains to config.total_steps (resuming if possible).

  Building a Trainer only reads: the config, the workdir's config.json and the first batch are
  checked before anything is written (lib/train/validate.py). `run()` takes the workdir lock,
  restores the newest checkpoint that verifies, then writes config.json and trains."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, devices=None):
    self.config, self.workdir = config, workdir
    validate.validate_config(config)
    self.task = import_symbol(config.task)
    try:
      self.mesh = make_mesh(config.mesh, devices)              # fails before any compile
      sh.check_batch_divisible(config.data.batch_size, self.mesh)
    except ValueError as e:
      raise ConfigError(str(e)) from e
    self.is_main = jax.process_index() == 0
    workdir_lib.check_usable(workdir)
    workdir_lib.check_same_experiment(workdir, config)
    validate.validate_data(config, self.task)
    self.train_iter = train_iterator(config)
    self.batch_sharding = sh.batch_sharding(self.mesh)
    self.example = _abstract_batch(_peek(self.train_iter), self.mesh)
    init_rng, self.train_rng = jax.random.split(jax.random.key(config.seed))
    init = functools.partial(self.task.init, config)
    with jax.set_mesh(self.mesh):
      self.abstract_state = jax.eval_shape(init, init_rng, self.example)
    try:
      self.state_shardings = sh.tree_shardings(self.abstract_state, self.mesh, config.sharding)
    except ValueError as e:   # a preset or rule that does not fit the mesh or the params
      raise ConfigError(str(e)) from e
    self._init_fn = jax.jit(init, out_shardings=self.state_shardings,
                            compiler_options=_init_compiler_options(self.mesh))
    self._init_rng = init_rng
    self.trace_count = 0
    self.checkpoints: ckpt.Checkpoints | None = None   # opened for writing by run()
    self.restored_step: int | None = None

    def counted_step(state, batch, rng):
      self.trace_count += 1  # runs at trace time only: counts compilations
      return self.task.train_step(config, state, batch, rng)

    self.step_fn = jax.jit(
        counted_step,
        in_shardings=(self.state_shardings, self.batch_sharding, sh.replicated(self.mesh)),
        out_shardings=(self.state_shardings, sh.replicated(self.mesh)),
        donate_argnums=(0,))

  # -- state -------------------------------------------------------------------------------
  def _target(self):
    return ckpt.abstract_with_shardings(self.abstract_state, self.state_shardings)

  def read_checkpoints(self) -> ckpt.Checkpoints | None:
    """The workdir's checkpoints (read-only unless run() opened them), None when it has none."""
    if self.checkpoints is not None:
      return self.checkpoints
    if not os.path.isdir(os.path.join(self.workdir, "checkpoints")):
      return None
    return ckpt.Checkpoints(self.workdir, read_only=True)

  def initial_state(self):
    """Resumes from the newest checkpoint that verifies, else a fresh sharded init."""
    checkpoints = self.read_checkpoints()
    if checkpoints is not None and checkpoints.steps():
      state, data_state, rng, step = checkpoints.restore(self._target())
      if data_state is not None:
        self.train_iter.set_state(data_state)
      else:
        logging.warning("checkpoint step %d has no data iterator state (written by an older "
                        "version): the input stream restarts at batch 0", step)
      self.train_rng = rng
      self.restored_step = step
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
    source = ckpt.Checkpoints(src, read_only=True)
    if not source.steps():
      raise ConfigError(f"config.init_from={src!r} holds no checkpoint; name the workdir of a "
                        f"finished run")
    src_state, _, _, src_step = source.restore(self._target(), with_data=False)
    logging.info("initialized params from %s step %d", src, src_step)
    return state.replace(params=src_state.params, model_state=src_state.model_state,
                         ema_params=getattr(src_state, "ema_params", None))

  # -- loop --------------------------------------------------------------------------------
  def run(self, stop_at: int | None = None) -> dict:
    """Trains to config.total_steps. `stop_at` interrupts after that step as a preemption
    would (checkpoint, then return {'stopped_at': step}); the next run resumes from it."""
    lock = workdir_lib.WorkdirLock(self.workdir).acquire() if self.is_main else None
    try:
      self.checkpoints = ckpt.Checkpoints(self.workdir, self.config.checkpoint.keep,
                                          self.config.checkpoint.async_save)
      try:
        state = self.initial_state()
        step = int(jax.device_get(state.step))
        if self.restored_step is not None and step > self.config.total_steps:
          raise ConfigError(
              f"the run in {self.workdir} is already at step {step} and config.total_steps="
              f"{self.config.total_steps}: nothing to train. To train further pass "
              f"--config.total_steps=<more than {step}>; to re-score it, "
              f"python launch.py --mode eval --workdir {self.workdir}.")
        if self.restored_step is not None and step < self.config.total_steps:
          done = self._results_of(step)
          if (done is not None and done.get("stopped_by") == "time_budget_s"
              and self._budget_spent(train_seconds_at(self.workdir, step))):
            logging.warning("the run in %s is already complete: its time budget "
                            "(config.time_budget_s=%s) was spent at step %d (results.json). "
                            "To train further raise --config.time_budget_s.", self.workdir,
                            self.config.time_budget_s, step)
            self.final_state = state
            return done
        if self.restored_step is not None and step == self.config.total_steps:
          done = self._results_of(step)
          if done is not None:   # a requeued job that had finished: nothing to do, not a failure
            logging.warning("the run in %s is already complete at step %d (results.json); "
                            "nothing to train. To train further pass --config.total_steps=<more "
                            "than %d>.", self.workdir, step, step)
            self.final_state = state
            return done
          logging.warning("the run in %s reached step %d but was stopped before its final "
                          "evaluation: finishing it", self.workdir, step)
        if lock is not None:      # from here on the run writes: say who holds the workdir
          lock.record()
          run_log.attach(self.workdir)
        return self._train(state, stop_at)
      except Exception as e:
        if ckpt.is_disk_full(e) and not isinstance(e, DiskFullError):
          raise ckpt.disk_full_error(self.workdir, ckpt.state_nbytes(self.abstract_state),
                                     e) from e
        raise
      finally:
        self._close_checkpoints()
    finally:
      if lock is not None:
        lock.release()

  def _results_of(self, step: int) -> dict | None:
    """The results.json of a run that finished at `step`, or None."""
    try:
      with open(os.path.join(self.workdir, "results.json")) as f:
        results = json.load(f)
    except (OSError, ValueError):
      return None
    return results if results.get("step") == step else None

  def _budget_spent(self, train_seconds: float) -> bool:
    budget = float(self.config.get("time_budget_s", 0.0) or 0.0)
    return budget > 0 and train_seconds >= budget

  def _step_report(self) -> observability.StepReport:
    """Compiles the step ahead (the calls that follow reuse the executable) and reads its
    FLOPs and memory for the compile/* and perf/* metrics."""
    rng = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=sh.replicated(self.mesh))
    with jax.set_mesh(self.mesh):
      compiled = self.step_fn.lower(self._target(), self.example, rng).compile()
    return observability.StepReport(compiled, num_devices=self.mesh.size,
                                    dtype=self.config.compute_dtype)

  def _close_checkpoints(self) -> None:
    """Lets a pending save finish (so the newest checkpoint is whole) without hiding the
    error that ended the run, if any."""
    try:
      self.checkpoints.wait()
    except Exception as e:  # already reported, or reported by the caller's exception
      logging.warning("a pending checkpoint save failed: %s", e)
    self.checkpoints.close()
    self.checkpoints = None

  def _train(self, state, stop_at: int | None) -> dict:
    c = self.config
    step = int(jax.device_get(state.step))
    if self.is_main:
      workdir_lib.write_config(self.workdir, c)
      # Rows past the step this run starts from were logged by a run that died after them
      # (before its first checkpoint, all of them): they are about to be logged again.
      removed = truncate_metrics(self.workdir, step)
      if removed:
        logging.warning("metrics.jsonl: removed %d rows logged after step %d by an earlier, "
                        "interrupted run", removed, step)
    evaluators = evaluators_lib.make_evaluators(c, self.task, self.mesh, self.state_shardings,
                                                self.workdir)
    writer = MetricWriter(self.workdir, enabled=self.is_main)
    # Seconds of training so far (summed over resumes, evaluation excluded): time_budget_s.
    train_seconds = (train_seconds_at(self.workdir, step) if self.restored_step is not None
                     else 0.0)
    out_of_time = self._budget_spent(train_seconds)
    # restarted after its last checkpoint (steps or time spent): only the final evaluation
    finishing = step >= c.total_steps or out_of_time
    report = None if finishing else self._step_report()
    window = profiling.ProfileWindow(c.profile, self.workdir)
    first_row = True
    lr_keys = validate.learning_rate_keys(c)
    last_ckpt = self.restored_step
    pending: list[tuple[int, Any]] = []
    t_last, steps_last = time.time(), step
    t_segment = t_last   # start of the training time not yet added to train_seconds
    progress = _progress(step, c.total_steps, self.is_main)
    row: dict = {}
    try:
      with PreemptionGuard() as guard, jax.set_mesh(self.mesh):
        while step < c.total_steps and not out_of_time:
          batch = sh.global_batch(next(self.train_iter), self.mesh)
          window.before_step(step)
          with window.annotate(step + 1):
            state, metrics = self.step_fn(state, batch, jax.random.fold_in(self.train_rng, step))
          step += 1
          window.after_step(step, (state, metrics))
          pending.append((step, metrics))
          last = step == c.total_steps
          stop = stop_at is not None and step >= stop_at and not last
          preempted = guard.requested  # read once: a signal arriving later waits a step
          save_now = last or stop or preempted or step % c.checkpoint.every_steps == 0
          eval_now = (not last) and step % c.eval.every_steps == 0
          row = {}
          if save_now or eval_now or step % c.log_every == 0:
            rows = jax.device_get(pending)
            pending = []
            for s, m in rows:
              if c.nan_guard:
                check_finite(s, m, last_ckpt, self.workdir, lr_keys)
            now = time.time()
            row = {k: float(np.mean([m[k] for _, m in rows])) for k in rows[-1][1]}
            row["steps_per_sec"] = (step - steps_last) / max(now - t_last, 1e-9)
            train_seconds += now - t_segment
            t_segment = now
            row["time/train_seconds"] = train_seconds
            if not last and c.get("time_budget_s", 0.0) and _agreed(
                self._budget_spent(train_seconds)):
              out_of_time = last = save_now = True   # the budget ends the run at this step
              stop = eval_now = False
            row.update(report.perf_scalars(row["steps_per_sec"]))
            if first_row:   # compile/* once, in the first row (not a row of its own)
              row.update(report.compile_scalars())
              first_row = False
            progress.update(step, row)
            t_last, steps_last = now, step
          if save_now:
            self.checkpoints.save(step, state, self.train_iter.get_state(), self.train_rng)
            last_ckpt = step
          if eval_now:
            row.update(evaluators_lib.run_all(evaluators, state, step, final=False))
            t_last = t_segment = time.time()
          if row:  # the last row too, before the final checkpoint: see writers.py
            writer.write(step, row)
          if preempted:
            self.checkpoints.wait()
            logging.warning("signal %d: saved step %d, exiting", guard.signum, step)
            raise Preempted(128 + guard.signum)
          if stop:
            self.checkpoints.wait()
            self.final_state = state
            return {"stopped_at": step}
        self.checkpoints.finish()
        results = {"step": step, **evaluators_lib.run_all(evaluators, state, step, final=True)}
        if out_of_time:
          results["stopped_by"] = "time_budget_s"
      writer.update(step, {k: v for k, v in results.items()
                           if k != "step" and isinstance(v, (int, float))
                           and not isinstance(v, bool)}, replace=finishing)
    finally:
      progress.close()
      window.close()
      writer.close()
    if self.is_main:
      workdir_lib.write_json_atomically(os.path.join(self.workdir, "results.json"), results)
    self.final_state = state
    return results


def train_seconds_at(workdir: str, step: int) -> float:
  """The training seconds a run had spent when it logged `step` (its newest row at or before
  it that has them; 0 for a run logged before time/train_seconds existed)."""
  rows = [r for r in read_metrics(workdir)
          if r.get("step", 0) <= step and "time/train_seconds" in r]
  return float(rows[-1]["time/train_seconds"]) if rows else 0.0


def _agreed(flag: bool) -> bool:
  """Process 0's `flag` on every process: clocks differ between hosts, and a run whose
  processes disagree on its last step would hang in the next collective."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


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
