"""Nested dicts <-> flat dicts with joined keys ('a/b/c'), for config diffs and npz weights."""
from __future__ import annotations


def flatten(d: dict, sep: str = "/", prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict):
      out.update(flatten(v, sep, key + sep))
    else:
      out[key] = v
  return out


def unflatten(flat: dict, sep: str = "/") -> dict:
  tree: dict = {}
  for key, v in flat.items():
    node = tree
    *parents, leaf = key.split(sep)
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return tree
