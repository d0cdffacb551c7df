"""Slash-joined parameter paths ('Encoder/block_0/attn/query/kernel') for regex rules."""
from __future__ import annotations

import re
from typing import Any

import jax


def key_name(k) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def path_str(path) -> str:
  return "/".join(key_name(k) for k in path)


def tree_paths(tree: Any) -> Any:
  """A tree of the same structure whose leaves are their slash-joined paths."""
  return jax.tree_util.tree_map_with_path(lambda p, _: path_str(p), tree)


def regex_mask(tree: Any, pattern: str) -> Any:
  """A boolean tree: True where the leaf's path matches `pattern` (re.fullmatch)."""
  rx = re.compile(pattern)
  return jax.tree_util.tree_map_with_path(lambda p, _: bool(rx.fullmatch(path_str(p))), tree)
