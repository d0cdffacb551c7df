"""Re-scores a checkpoint (`launch.py --mode eval|sample`) without training."""
from __future__ import annotations

import json
import os

import jax

from lib.train import checkpoint as ckpt
from lib.train import evaluators as evaluators_lib
from lib.train.loop import Trainer


def evaluate(config, workdir: str, step: int | None = None, only=None) -> dict:
  if only:
    config = config.copy_and_resolve_references()
    config.unlock()
    config.eval.evaluators = tuple(only)
  trainer = Trainer(config, workdir, write_config=False)
  if trainer.manager.latest_step() is None:
    raise ckpt.CheckpointError(f"{workdir} holds no checkpoint to evaluate; train first.")
  target = ckpt.abstract_with_shardings(trainer.abstract_state, trainer.state_shardings)
  state, _, _, step = ckpt.restore(trainer.manager, target, step=step, with_data=False)
  evaluators = evaluators_lib.make_evaluators(config, trainer.task, trainer.mesh,
                                              trainer.state_shardings, workdir)
  with jax.set_mesh(trainer.mesh):
    results = {"step": step, **evaluators_lib.run_all(evaluators, state, step, final=True)}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, f"results_eval_step{step}.json"), "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
  return results
