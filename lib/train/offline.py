"""Re-scores a checkpoint (`launch.py --mode eval|sample`) without training; reads the workdir
and writes only results_eval_step<N>.json (eval) or sample grids (sample)."""
from __future__ import annotations

import os

import jax

from lib.errors import NoSamplerError, WorkdirError
from lib.train import checkpoint as ckpt
from lib.train import evaluators as evaluators_lib
from lib.train.loop import Trainer
from lib.train.workdir import write_json_atomically


def evaluate(config, workdir: str, step: int | None = None, only=None) -> dict:
  if not os.path.isdir(workdir):
    raise WorkdirError(f"workdir {workdir!r} does not exist; name the workdir of a run "
                       f"(python launch.py --mode eval --workdir runs/<name>).")
  if only:
    config = config.copy_and_resolve_references()
    config.unlock()
    config.eval.evaluators = tuple(only)
  trainer = Trainer(config, workdir)
  if only == ("samples",) and not hasattr(trainer.task, "sample"):
    raise NoSamplerError(
        f"{config.task} has no sampler: the run in {workdir} is a predictive model, not a "
        f"generator. Use --mode eval for its scores; its prediction grids are in "
        f"{workdir}/samples/.")
  checkpoints = trainer.read_checkpoints()
  if checkpoints is None or not checkpoints.steps():
    raise ckpt.checkpoint_error_for_missing(workdir)
  state, _, _, step = checkpoints.restore(trainer._target(), step=step, with_data=False)
  evaluators = evaluators_lib.make_evaluators(config, trainer.task, trainer.mesh,
                                              trainer.state_shardings, workdir)
  with jax.set_mesh(trainer.mesh):
    results = {"step": step, **evaluators_lib.run_all(evaluators, state, step, final=True)}
  if jax.process_index() == 0 and not only:
    write_json_atomically(os.path.join(workdir, f"results_eval_step{step}.json"), results)
  return results
