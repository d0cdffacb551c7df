"""Verified Orbax checkpoints: train state + data-iterator state + rng, async saves, restore
onto any mesh (or one CPU device), and nothing lost to a corrupt or partial checkpoint.

A checkpoint `<workdir>/checkpoints/<step>/` holds three Orbax items: `state` (the arrays),
`data` (the Grain iterator state) and `meta` (step, rng, and the integrity record). The record
is written in the same Orbax save, so it is committed atomically with the arrays:
- `state`: a 64-bit fingerprint of every array (`array_fingerprints`), computed on device in
  one jitted pass whatever the sharding;
- `data`: the SHA-256 of its canonical JSON;
- `meta` itself: the SHA-256 of its canonical JSON without that field;
- `items`: the item names the save wrote, so a missing item is noticed.
`Checkpoints.restore` tries steps newest first and uses the first that reads back and matches
its record; every skipped step is named in a warning with what failed. Nothing here deletes a
checkpoint that failed verification. Retention (`keep` newest) is done here, not by Orbax:
a step is removed only when it is older than the `keep` newest AND a newer checkpoint has been
read back and verified, so a bad newest checkpoint never costs the last good one.
Checkpoints written before this record existed restore with a warning that they are unverified.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from lib.errors import CheckpointError, DiskFullError

ITEMS = ("state", "data", "meta")
_MULT = (np.uint32(0x9E3779B1), np.uint32(0x85EBCA77))   # odd: every weight below is odd
_ADD = (np.uint32(0x7F4A7C15), np.uint32(0xC2B2AE3D))


class CheckpointCorrupt(Exception):
  """One step failed to read back or to match its record (internal: the caller moves on)."""


# -- fingerprints ----------------------------------------------------------------------------
def _words(x: jax.Array) -> jax.Array:
  """The array's bits as uint32 words, same shape (8-byte types: a trailing axis of 2)."""
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  if x.dtype == jnp.bool_:
    x = x.astype(jnp.uint8)
  size = x.dtype.itemsize
  if size == 4 or size == 8:
    return jax.lax.bitcast_convert_type(x, jnp.uint32)
  unsigned = {1: jnp.uint8, 2: jnp.uint16}[size]
  return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)


def _fingerprint(x: jax.Array) -> jax.Array:
  """[2] uint32: sum_i word_i * (a_k * i + b_k | 1) mod 2^32 for two (a_k, b_k), over the flat
  index i. Integer sums do not depend on the order of reduction, so the value is the same on
  any mesh; each weight is odd, so changing any one word always changes both sums."""
  w = _words(x)
  if w.ndim == 0:
    w = w[None]
  index = jnp.zeros(w.shape, jnp.uint32)
  stride = 1
  for d in reversed(range(w.ndim)):
    index = index + jax.lax.broadcasted_iota(jnp.uint32, w.shape, d) * jnp.uint32(stride % 2**32)
    stride *= w.shape[d]
  sums = [jnp.sum(w * ((index * m + a) | jnp.uint32(1)), dtype=jnp.uint32)
          for m, a in zip(_MULT, _ADD)]
  return jnp.stack(sums)


@jax.jit
def _tree_fingerprints(tree):
  return jax.tree.map(_fingerprint, tree)


def array_fingerprints(tree: Any) -> dict[str, str]:
  """{leaf path: 16 hex digits} for every array leaf of `tree` (one jitted pass on device)."""
  prints = jax.device_get(_tree_fingerprints(tree))
  flat = jax.tree_util.tree_flatten_with_path(prints)[0]
  return {jax.tree_util.keystr(path): f"{int(v[0]):08x}{int(v[1]):08x}" for path, v in flat}


def json_sha256(obj: Any) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


# -- the manager -------------------------------------------------------------------------------
def is_disk_full(e: BaseException) -> bool:
  """Whether an exception (or one it was raised from) is ENOSPC, as OSError or as text."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
      return True
    if "No space left on device" in str(e):
      return True
    e = e.__cause__ or e.__context__
  return False


def _size(nbytes: int) -> str:
  return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.0f} KiB"


def disk_full_error(directory: str, needed_bytes: int, cause: BaseException) -> DiskFullError:
  path = directory
  while path and not os.path.exists(path):
    path = os.path.dirname(path)
  try:
    st = os.statvfs(path or ".")
    free = st.f_bavail * st.f_frsize
    total = st.f_blocks * st.f_frsize
  except OSError:
    free = total = -1
  error = DiskFullError(
      f"disk full: writing to {directory} failed ({cause.__class__.__name__}). The filesystem "
      f"holding {path} has {_size(free)} free of {_size(total)}; a checkpoint of this run "
      f"needs about {_size(needed_bytes)}. Free space there (older runs, "
      f"tmp files) or pass a --workdir on a larger disk; the checkpoints already written are "
      f"left as they are and the run resumes from the newest that verifies.")
  error.errno = errno.ENOSPC
  return error


def state_nbytes(tree: Any) -> int:
  return int(sum(np.prod(x.shape, dtype=np.int64) * np.dtype(x.dtype).itemsize
                 for x in jax.tree.leaves(tree) if hasattr(x, "shape")))


def abstract_with_shardings(abstract_state: Any, shardings: Any) -> Any:
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      abstract_state, shardings)


class Checkpoints:
  """The checkpoints of one workdir. `read_only` opens them without creating or writing
  anything (evaluation, notebooks)."""

  def __init__(self, workdir: str, keep: int = 3, async_save: bool = True,
               read_only: bool = False):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.keep = int(keep)
    self.read_only = read_only
    # read_only opens with create=False rather than Orbax's read_only, which logs warnings
    # on every open; nothing here writes unless save() is called.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None, enable_async_checkpointing=async_save and not read_only,
        create=not read_only)
    self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)
    self.verified: set[int] = set()   # read back and matched their record
    self.bad: dict[int, str] = {}     # failed verification: never deleted here
    self._abstract = None             # the restore target, set by the first restore or save
    self._nbytes = 0

  # -- listing ---------------------------------------------------------------------------------
  def steps(self) -> list[int]:
    self.manager.reload()
    return sorted(int(s) for s in self.manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.steps()
    return steps[-1] if steps else None

  def _step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  # -- restore ---------------------------------------------------------------------------------
  def restore(self, abstract_state: Any, step: int | None = None, with_data: bool = True):
    """(state, data_state or None, rng, step) of `step`, or of the newest checkpoint that
    verifies. `abstract_state` carries the target shardings (ShapeDtypeStructs with
    `.sharding`), so a checkpoint written on one mesh restores onto another."""
    self._abstract = abstract_state
    steps = self.steps()
    if step is not None:
      if step not in steps:
        raise CheckpointError(
            f"there is no checkpoint at step {step} in {self.directory}; the steps there are "
            f"{steps or 'none'}. Pass one of them with --step, or leave --step out for the "
            f"newest.")
      try:
        return self._restore_verified(step, with_data)
      except CheckpointCorrupt as e:
        raise CheckpointError(
            f"checkpoint step {step} in {self.directory} does not verify: {e}. It is left as "
            f"it is; pass another --step (steps: {steps}), or leave --step out to use the "
            f"newest that verifies.") from e
    if not steps:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    tried = []
    for s in reversed(steps):
      try:
        out = self._restore_verified(s, with_data)
      except CheckpointCorrupt as e:
        self.bad[s] = str(e)
        tried.append(f"step {s}: {e}")
        logging.warning("checkpoint step %d in %s skipped: %s", s, self.directory, e)
        continue
      if tried:
        logging.warning("resuming from step %d, the newest checkpoint that verifies; skipped "
                        "and left on disk: %s", s, "; ".join(tried))
      return out
    raise CheckpointError(
        f"no checkpoint in {self.directory} verifies, so nothing is resumed and nothing is "
        f"deleted. Tried: " + "; ".join(tried) + ". Move the checkpoints folder aside to start "
        f"this run afresh, or start a new --workdir.")

  def _restore_verified(self, step: int, with_data: bool):
    where = self._step_dir(step)
    missing = [i for i in ("state", "meta") if not os.path.isdir(os.path.join(where, i))]
    if missing:
      raise CheckpointCorrupt(f"item(s) {missing} missing from {where}")
    try:
      meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    except Exception as e:  # orbax raises many kinds
      raise CheckpointCorrupt(f"meta unreadable ({type(e).__name__}: {str(e)[:200]})") from e
    record = meta.get("checksums") if isinstance(meta, dict) else None
    if record is not None:
      body = {k: v for k, v in meta.items() if k != "meta_sha256"}
      if json_sha256(body) != meta.get("meta_sha256"):
        raise CheckpointCorrupt("meta does not match its checksum")
      missing = [i for i in meta.get("items", ()) if not os.path.isdir(os.path.join(where, i))]
      if missing:
        raise CheckpointCorrupt(f"item(s) {missing} missing from {where}")
    has_data = os.path.isdir(os.path.join(where, "data"))
    want_data = with_data and has_data
    items = dict(state=ocp.args.StandardRestore(self._abstract))
    if want_data:
      items["data"] = ocp.args.JsonRestore()
    try:
      out = self.manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:
      raise CheckpointCorrupt(f"arrays unreadable ({type(e).__name__}: {str(e)[:200]})") from e
    if record is None:
      logging.warning("checkpoint step %d in %s carries no checksums (written by an older "
                      "version): restored unverified", step, self.directory)
    else:
      prints = array_fingerprints(out.state)
      bad = [k for k, v in record["state"].items() if prints.get(k) != v]
      if bad or set(prints) != set(record["state"]):
        raise CheckpointCorrupt(
            f"{len(bad)} array(s) differ from their checksums, e.g. {bad[:3]}" if bad else
            "the arrays do not match the recorded tree")
      if want_data and json_sha256(out.data) != record.get("data"):
        raise CheckpointCorrupt("data iterator state does not match its checksum")
      self.verified.add(step)
    rng = jax.random.wrap_key_data(np.asarray(meta["rng"], dtype=np.uint32))
    return out.state, (out.data if want_data else None), rng, int(meta["step"])

  # -- save ------------------------------------------------------------------------------------
  def save(self, step: int, state: Any, data_state: dict | None, rng: jax.Array) -> bool:
    """Writes `step` (asynchronously when configured). An existing step is never overwritten:
    returns False for it. Retention runs first, over the checkpoints already finished."""
    if self.read_only:
      raise RuntimeError("these checkpoints were opened read-only")
    self.wait()
    self._prune()
    if step in self.steps():
      logging.warning("checkpoint step %d already exists in %s: not overwritten", step,
                      self.directory)
      return False
    if self._abstract is None:
      self._abstract = jax.tree.map(
          lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
      self._nbytes = state_nbytes(state)
    items = ["state", "meta"] + (["data"] if data_state is not None else [])
    checksums = {"state": array_fingerprints(state)}
    if data_state is not None:
      checksums["data"] = json_sha256(data_state)
    meta = {"step": int(step), "rng": np.asarray(jax.random.key_data(rng)).tolist(),
            "items": items, "checksums": checksums}
    meta["meta_sha256"] = json_sha256(meta)
    args = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    if data_state is not None:
      args["data"] = ocp.args.JsonSave(data_state)
    try:
      saved = self.manager.save(step, args=ocp.args.Composite(**args))
    except Exception as e:
      self._raise_disk_full(e)
      raise
    return saved

  def wait(self) -> None:
    try:
      self.manager.wait_until_finished()
    except Exception as e:
      self._raise_disk_full(e)
      raise

  def _raise_disk_full(self, e: BaseException) -> None:
    if is_disk_full(e):
      raise disk_full_error(self.directory, self._nbytes or state_nbytes(self._abstract), e) from e

  def finish(self) -> None:
    """Waits for pending saves, then applies retention (reading back what it needs)."""
    self.wait()
    self._prune()

  def close(self) -> None:
    self.manager.close()

  # -- retention -------------------------------------------------------------------------------
  def _prune(self) -> None:
    steps = [s for s in self.steps() if s not in self.bad]
    excess = steps[:-self.keep] if self.keep > 0 else []
    if not excess:
      return
    newest_ok = self._newest_verified(after=excess[-1])
    if newest_ok is None:
      logging.warning("no checkpoint newer than step %d verifies: older checkpoints are kept",
                      excess[-1])
      return
    for s in excess:
      if s < newest_ok:
        self.manager.delete(s)
        self.verified.discard(s)

  def _newest_verified(self, after: int) -> int | None:
    """The newest step > `after` that verifies, reading back unverified ones newest first."""
    for s in reversed(self.steps()):
      if s <= after:
        return None
      if s in self.verified:
        return s
      if s in self.bad or self._abstract is None:
        continue
      try:
        self._restore_verified(s, with_data=True)
      except CheckpointCorrupt as e:
        self.bad[s] = str(e)
        logging.warning("checkpoint step %d in %s does not read back: %s; it is kept, and so "
                        "are the older ones", s, self.directory, e)
        continue
      if s not in self.verified:   # an unverified legacy checkpoint does not protect others
        continue
      return s
    return None


def checkpoint_error_for_missing(workdir: str) -> CheckpointError:
  return CheckpointError(f"{workdir} holds no checkpoint (no {workdir}/checkpoints/<step>); "
                         f"train it first: python launch.py --config ... --workdir {workdir}")
