"""Grain input pipelines: a source -> seeded shuffle -> repeat -> augment -> (pad) -> this
process's share of each global batch -> batches, read in order by a resumable iterator.

Everything is a grain MapDataset (random access), so an iterator's position is one integer,
the number of global batches already read; `get_state()` returns it with what fixes the data
order, and `set_state()` refuses a state from a different order. No worker processes: a
background thread reads `data.prefetch` [2] batches ahead (0: read in the caller's thread).
Augmentation (`augment=True`) is a random crop with reflect padding of `data.crop_padding`
[image_size // 8] pixels and, when `data.flip` [True except for digits], a horizontal flip,
seeded by grain from (seed, position in the stream): the same seed gives the same batches.
Shuffling is reseeded every epoch; with several epochs, batches run across epoch ends.
"""
from __future__ import annotations

import functools
from typing import Any

import grain
import numpy as np

from lib.data.augment import augment_example
from lib.data.global_batches import PadWithValid, ProcessBlocks
from lib.data.sources import config_value, make_source

# What fixes the order of the data; a state from an iterator differing in these is refused.
_ORDER_KEYS = ("source", "split", "num_examples", "seed", "shuffle", "global_batch_size")


class Subset:
  """`limit` examples of `source` drawn without replacement by `seed` (sorted indices), with
  the source's num_classes and image_shape."""

  def __init__(self, source, limit: int, seed: int, split: str):
    if not 0 < limit <= len(source):
      raise ValueError(f"data.train_examples={limit}: split {split!r} has {len(source)} "
                       f"examples; use 1..{len(source)} (0 keeps all)")
    self._source = source
    self.indices = np.sort(np.random.default_rng(seed).permutation(len(source))[:limit])
    self.num_classes = source.num_classes
    self.image_shape = source.image_shape

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, i: int) -> dict:
    return self._source[int(self.indices[i])]


class DataIterator:
  """Iterates dicts of numpy arrays (this process's share of each global batch) and can be
  checkpointed: get_state() -> JSON-able dict, set_state(dict) resumes at the same batch."""

  def __init__(self, batches: grain.MapDataset, identity: dict, read_options: grain.ReadOptions,
               finite: bool):
    self._batches, self._finite = batches, finite
    self._identity = identity
    self._iter = iter(batches.to_iter_dataset(read_options))

  @property
  def num_batches(self) -> int | None:
    """Batches in one pass of this iterator (None when it repeats forever)."""
    return len(self._batches) if self._finite else None

  def __iter__(self) -> "DataIterator":
    return self

  def __next__(self) -> dict:
    return next(self._iter)

  def get_state(self) -> dict:
    return {"next_batch": int(self._iter.get_state()["next_index"]), **self._identity}

  def set_state(self, state: dict) -> None:
    differ = {k: (state.get(k), self._identity[k]) for k in _ORDER_KEYS
              if k in state and state[k] != self._identity[k]}
    if differ:
      detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differ.items())
      raise ValueError(f"data iterator state comes from a different data order ({detail}); "
                       f"resuming it would not continue the same stream")
    self._iter.set_state({"next_index": int(state["next_batch"])})

  def close(self) -> None:
    """Stops the read-ahead thread (also done when the iterator is garbage collected)."""
    self._iter.close()

  def __repr__(self) -> str:
    return f"DataIterator({self._identity}, next_batch={self.get_state()['next_batch']})"


def make_iterator(data_config: Any, split: str, *, global_batch_size: int, seed: int,
                  shuffle: bool = True, augment: bool = False, num_epochs: int | None = None,
                  process_index: int = 0, process_count: int = 1,
                  drop_remainder: bool = True, limit: int = 0,
                  limit_seed: int = 0) -> DataIterator:
  """Batches of `split` holding global_batch_size // process_count examples each: process
  p's contiguous block of every global batch. num_epochs None repeats forever. With a finite
  num_epochs and drop_remainder=False the stream is padded with zero examples to whole global
  batches and every example carries 'valid' (bool), so all processes yield the same number
  of same-shaped batches; otherwise there is no 'valid' key and a partial batch is dropped.
  `limit` > 0 keeps a fixed random subset of that many examples (chosen by `limit_seed`, the
  same whatever `seed` is): the limited-data setting of ADA (data.train_examples)."""
  if global_batch_size < 1 or global_batch_size % process_count:
    raise ValueError(f"global_batch_size {global_batch_size} must be a positive multiple of "
                     f"process_count {process_count}")
  source = make_source(data_config, split)
  if limit:
    source = Subset(source, int(limit), int(limit_seed), split)
  ds = grain.MapDataset.source(source).seed(int(seed))
  if shuffle:
    ds = ds.shuffle()
  if num_epochs != 1:
    ds = ds.repeat(num_epochs)
  if augment:
    size = source.image_shape[0] or 32
    flip_default = config_value(data_config, "source") != "digits"   # digits are not symmetric
    ds = ds.random_map(functools.partial(
        augment_example, flip=bool(config_value(data_config, "flip", flip_default)),
        crop_padding=int(config_value(data_config, "crop_padding", size // 8))))
  if num_epochs is not None and not drop_remainder:
    ds = PadWithValid(ds, global_batch_size)
  ds = ProcessBlocks(ds, global_batch_size, process_index, process_count)
  ds = ds.batch(global_batch_size // process_count, drop_remainder=True)
  if len(ds) == 0:
    raise ValueError(f"split {split!r} has {len(source)} examples x {num_epochs} epoch(s): not "
                     f"one global batch of {global_batch_size}; use drop_remainder=False")
  prefetch = int(config_value(data_config, "prefetch", 2))
  identity = dict(source=str(config_value(data_config, "source")), split=split,
                  num_examples=len(source), seed=int(seed), shuffle=bool(shuffle),
                  global_batch_size=int(global_batch_size))
  return DataIterator(ds, identity,
                      grain.ReadOptions(num_threads=1 if prefetch else 0,
                                        prefetch_buffer_size=prefetch),
                      finite=num_epochs is not None)


def make_eval_iterator(data_config: Any, split: str, *, global_batch_size: int,
                       process_index: int = 0, process_count: int = 1) -> DataIterator:
  """Every example of `split` exactly once, in order, padded to whole global batches, each
  example with 'valid' (False on padding)."""
  return make_iterator(data_config, split, global_batch_size=global_batch_size, seed=0,
                       shuffle=False, augment=False, num_epochs=1,
                       process_index=process_index, process_count=process_count,
                       drop_remainder=False)
