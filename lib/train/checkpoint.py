"""Orbax checkpoints: train state + data-iterator state + rng, async saves, keep-last-K, restore
onto any mesh (or one CPU device)."""
from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  pass


def make_manager(workdir: str, keep: int = 3, async_save: bool = True) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep, enable_async_checkpointing=async_save, create=True)
  return ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                               options=options)


def save(manager: ocp.CheckpointManager, step: int, state: Any, data_state: dict | None,
         rng: jax.Array, force: bool = True) -> bool:
  meta = {"step": int(step), "rng": np.asarray(jax.random.key_data(rng)).tolist()}
  args = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
  if data_state is not None:
    args["data"] = ocp.args.JsonSave(data_state)
  return manager.save(step, args=ocp.args.Composite(**args), force=force)


def abstract_with_shardings(abstract_state: Any, shardings: Any) -> Any:
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract_state, shardings)


def restore(manager: ocp.CheckpointManager, abstract_state: Any, step: int | None = None,
            with_data: bool = True):
  """Returns (state, data_state or None, rng, step). `abstract_state` carries the target
  shardings (ShapeDtypeStructs with `.sharding`), so a checkpoint written on one mesh restores
  onto another, or onto a single CPU device."""
  step = manager.latest_step() if step is None else step
  if step is None:
    raise CheckpointError(f"no checkpoint in {manager.directory}")
  items = dict(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())
  has_data = with_data and os.path.isdir(os.path.join(str(manager.directory), str(step), "data"))
  if has_data:
    items["data"] = ocp.args.JsonRestore()
  try:
    out = manager.restore(step, args=ocp.args.Composite(**items))
  except Exception as e:  # orbax raises many kinds; name the step and the fix.
    raise CheckpointError(
        f"checkpoint at step {step} in {manager.directory} could not be read "
        f"({type(e).__name__}: {str(e)[:300]}). It may be corrupt or written by a different "
        f"model. Remove {os.path.join(str(manager.directory), str(step))} to resume from the "
        f"previous checkpoint, or start a new --workdir.") from e
  rng = jax.random.wrap_key_data(np.asarray(out.meta["rng"], dtype=np.uint32))
  return out.state, (out.data if has_data else None), rng, int(out.meta["step"])
