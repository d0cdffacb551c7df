"""A profiler window over a few train steps, written where TensorBoard's profile plugin reads it.

`config.profile.start` (0 = off) and `config.profile.steps`: the steps numbered start ..
start + steps - 1 (the numbering of metrics.jsonl: step 1 is the first update) are traced on
process 0 with `jax.profiler.start_trace(workdir/tb)`, which writes
`workdir/tb/plugins/profile/<timestamp>/<host>.xplane.pb`. The profile plugin
(tensorboard-plugin-profile / xprof) lists `<run>/plugins/profile/<session>/` under any run
directory of the logdir, so `tensorboard --logdir runs/<name>/tb` shows it beside the scalars
(and `--logdir runs` shows it as `<name>/tb/<session>`). The trace stops after the last
step's outputs are ready, so it holds whole steps. A run resumed inside the window traces
what is left of it; one resumed past it traces nothing.
"""
from __future__ import annotations

import contextlib
import os

import jax
import ml_collections
from absl import logging


def trace_dir(workdir: str) -> str:
  """The TensorBoard run directory the trace goes under (the scalars' directory)."""
  return os.path.join(workdir, "tb")


class ProfileWindow:
  """Starts and stops the profiler around steps start .. start + steps - 1.

  In the loop, with `step` the number of steps done so far:
    window.before_step(step)                 # before running step `step + 1`
    with window.annotate(step + 1):          # optional: names the step in the trace
      state, metrics = step_fn(...)
    step += 1
    window.after_step(step, (state, metrics))
  and `window.close()` in a `finally` (stops a trace still running).
  """

  def __init__(self, profile_config: ml_collections.ConfigDict, workdir: str,
               enabled: bool | None = None):
    self.start = int(profile_config.get("start", 0))
    self.steps = int(profile_config.get("steps", 0))
    if self.start < 0 or (self.start and self.steps < 1):
      raise ValueError(f"config.profile: start={self.start} steps={self.steps}; start is the "
                       "first traced step (0 = off) and steps >= 1 how many to trace")
    self.enabled = (jax.process_index() == 0) if enabled is None else enabled
    self.logdir = trace_dir(workdir)
    self.active = False
    self.done = not (self.enabled and self.start)

  @property
  def last(self) -> int:
    return self.start + self.steps - 1

  def before_step(self, step: int) -> None:
    """`step` steps are done; starts the trace if step + 1 falls in the window."""
    if self.done or self.active:
      return
    if step + 1 > self.last:  # resumed past the window
      self.done = True
      return
    if step + 1 >= self.start:
      os.makedirs(self.logdir, exist_ok=True)
      jax.profiler.start_trace(self.logdir)
      self.active = True
      logging.info("profiler: tracing steps %d..%d into %s", step + 1, self.last, self.logdir)

  def after_step(self, step: int, outputs=None) -> None:
    """`step` steps are done; after the window's last step, waits for `outputs` and stops."""
    if self.active and step >= self.last:
      jax.block_until_ready(outputs)
      self._stop()

  def annotate(self, step: int):
    """A StepTraceAnnotation while tracing (the plugin's step-time graph), else nothing."""
    if self.active:
      return jax.profiler.StepTraceAnnotation("train", step_num=step)
    return contextlib.nullcontext()

  def close(self) -> None:
    if self.active:
      self._stop()

  def _stop(self) -> None:
    jax.profiler.stop_trace()
    self.active, self.done = False, True
    logging.info("profiler: trace written under %s/plugins/profile", self.logdir)


def written_traces(workdir: str) -> list[str]:
  """The .xplane.pb files of a workdir, as the profile plugin finds them."""
  root = os.path.join(trace_dir(workdir), "plugins", "profile")
  if not os.path.isdir(root):
    return []
  return sorted(os.path.join(root, session, name)
                for session in os.listdir(root) if os.path.isdir(os.path.join(root, session))
                for name in os.listdir(os.path.join(root, session))
                if name.endswith(".xplane.pb"))
