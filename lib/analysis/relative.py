"""Relative representations (Moschella et al. 2023, "Relative representations enable
zero-shot latent space communication", Sec. 3).

r_x = (sim(e_x, e_a1), ..., sim(e_x, e_a|A|)) with sim the cosine similarity (Eq. 1-2): each
sample is described by its angles to a fixed set of anchor samples, which is invariant to any
angle-preserving map of the latent space (rotations, reflections, isotropic rescaling). As in
the authors' code (lucmos/relreps, `relative_projection`), samples and anchors are
L2-normalised and multiplied; `center=True` subtracts the anchors' mean from both first (the
centring they use on some spaces), which adds invariance to translations.
"""
from __future__ import annotations

import numpy as np

from lib.errors import DataError


def relative_projection(x, anchors, center: bool = False, eps: float = 1e-12) -> np.ndarray:
  """[n, |A|] cosine similarities of x [n, ...] to anchors [|A|, ...] (Eq. 2)."""
  x = np.asarray(x, np.float64)
  anchors = np.asarray(anchors, np.float64)
  x, anchors = x.reshape(x.shape[0], -1), anchors.reshape(anchors.shape[0], -1)
  if x.shape[1] != anchors.shape[1]:
    raise DataError(f"samples have {x.shape[1]} features and anchors {anchors.shape[1]}; "
                    "anchors are samples embedded by the same model (the same space)")
  if center:
    mean = anchors.mean(0)
    x, anchors = x - mean, anchors - mean
  unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), eps)
  return unit(x) @ unit(anchors).T                              # cos(e_x, e_a)


def choose_anchors(num_samples: int, num_anchors: int, seed: int = 0) -> np.ndarray:
  """Indices of `num_anchors` distinct samples drawn uniformly (the paper's random anchors)."""
  if not 0 < num_anchors <= num_samples:
    raise DataError(f"{num_anchors} anchors from {num_samples} samples: pass between 1 and "
                    "the number of samples")
  return np.sort(np.random.default_rng(seed).choice(num_samples, num_anchors, replace=False))


def relative_similarity(rel_a, rel_b) -> float:
  """Mean cosine similarity between the relative representations of the same samples in two
  spaces (the paper's cross-space similarity, Sec. 4.1), 1 for angle-equivalent spaces."""
  a, b = np.asarray(rel_a, np.float64), np.asarray(rel_b, np.float64)
  if a.shape != b.shape:
    raise DataError(f"relative representations of shapes {a.shape} and {b.shape}: use the "
                    "same samples and the same anchor indices in both spaces")
  num = (a * b).sum(1)
  return float(np.mean(num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                        1e-12)))
