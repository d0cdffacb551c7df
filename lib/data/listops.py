"""ListOps (Nangia & Bowman 2018; LRA): nested MIN, MAX, MED, SM over digits, generated offline.

A sequence is a tree like `[MAX 2 9 [MIN 4 7 ] 0 ]`; its label is its value (0..9).
MIN / MAX of the arguments, MED = the lower median (sorted(args)[(n - 1) // 2]),
SM = sum mod 10. Depth <= max_depth (<= 10), 2..max_args arguments per operator, at most
max_len tokens (longer draws are redrawn). Example i of a split depends only on (seed, split,
i): random access, deterministic. Tokens: 0 pad, 1..10 digits 0..9, 11 [MIN, 12 [MAX, 13 [MED,
14 [SM, 15 ']'. 'image' holds the int32 tokens [max_len] (the classify task reads 'image').
"""
from __future__ import annotations

import numpy as np

PAD, CLOSE = 0, 15
OPS = {"MIN": 11, "MAX": 12, "MED": 13, "SM": 14}
VOCAB_SIZE = 16
NUM_CLASSES = 10
_SPLIT_IDS = {"train": 0, "test": 1, "validation": 2}


def evaluate(op: str, args: list[int]) -> int:
  if op == "MIN":
    return min(args)
  if op == "MAX":
    return max(args)
  if op == "MED":
    return sorted(args)[(len(args) - 1) // 2]
  return sum(args) % 10


def _tree(rng, depth: int, max_depth: int, max_args: int, p_op: float):
  """(tokens, value) of a random subtree."""
  if depth >= max_depth or (depth > 0 and rng.random() > p_op):
    d = int(rng.integers(10))
    return [d + 1], d
  op = list(OPS)[int(rng.integers(4))]
  tokens, values = [OPS[op]], []
  for _ in range(int(rng.integers(2, max_args + 1))):
    t, v = _tree(rng, depth + 1, max_depth, max_args, p_op)
    tokens += t
    values.append(v)
  return tokens + [CLOSE], evaluate(op, values)


def generate(rng, max_len: int = 128, max_depth: int = 10, max_args: int = 5,
             p_op: float = 0.3) -> tuple[np.ndarray, int]:
  if not 1 <= max_depth <= 10:
    raise ValueError(f"listops: max_depth must be 1..10, got {max_depth}")
  while True:
    tokens, value = _tree(rng, 0, max_depth, max_args, p_op)
    if len(tokens) <= max_len:
      out = np.zeros(max_len, np.int32)
      out[:len(tokens)] = tokens
      return out, value


class ListOpsSource:
  num_classes = NUM_CLASSES

  def __init__(self, split: str = "train", length: int = 10000, max_len: int = 128,
               max_depth: int = 10, max_args: int = 5, seed: int = 0):
    if split not in _SPLIT_IDS:
      raise ValueError(f"listops has splits {sorted(_SPLIT_IDS)}, not {split!r}")
    self.split, self.length, self.max_len = split, int(length), int(max_len)
    self.max_depth, self.max_args, self.seed = int(max_depth), int(max_args), int(seed)

  @property
  def image_shape(self):
    return (self.max_len,)

  def __len__(self):
    return self.length

  def __getitem__(self, i: int) -> dict:
    rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], int(i)])
    tokens, label = generate(rng, self.max_len, self.max_depth, self.max_args)
    return {"image": tokens, "label": np.int32(label)}
