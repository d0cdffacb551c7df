"""A run's config.json back into a locked ConfigDict (lists become tuples, as configs write them)."""
from __future__ import annotations

import ml_collections


def _tuples(x):
  if isinstance(x, dict):
    return {k: _tuples(v) for k, v in x.items()}
  if isinstance(x, list):
    return tuple(_tuples(v) for v in x)
  return x


def config_from_json(d: dict) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict(_tuples(d))
  c.lock()
  return c
