"""Centered kernel alignment between layer representations.

- Linear CKA with the full (biased) HSIC of Kornblith et al. 2019, "Similarity of Neural
  Network Representations Revisited", Eq. 3-4 (HSIC(K, L) = tr(K H L H) / (n - 1)^2).
- Minibatch CKA of Nguyen et al. 2021, "Do Wide and Deep Networks Learn the Same Things?",
  Eq. 2-3: the unbiased HSIC_1 of Song et al. 2012 summed over minibatches, then normalised.

The minibatch estimator follows the behaviour of the official code (google-research,
do_wide_and_deep_networks_learn_the_same_things/efficient_CKA.py: MinibatchCKA): features
are flattened per example, per-batch HSIC_1 values are accumulated over batches and CKA is
the accumulated cross term over the root of the accumulated self terms. Here HSIC_1 is the
paper's closed form (with its 1 / (n (n - 3)) factor, which cancels for equal batch sizes).
All arithmetic is float64 numpy.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from lib.errors import DataError


def _features(x, name: str = "x") -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim < 2:
    raise DataError(f"{name} of shape {x.shape} is not [examples, features...]")
  return x.reshape(x.shape[0], -1)


def _pair(x, y):
  x, y = _features(x, "x"), _features(y, "y")
  if x.shape[0] != y.shape[0]:
    raise DataError(f"x has {x.shape[0]} examples and y {y.shape[0]}; CKA compares the "
                    "representations of the same examples, so pass equally many, in order")
  return x, y


def gram_linear(x) -> np.ndarray:
  """K = X X^T, the linear kernel (Sec. 3)."""
  x = _features(x)
  return x @ x.T


def center_gram(k: np.ndarray) -> np.ndarray:
  """H K H with H = I - 11^T / n, the centring matrix (Eq. 3)."""
  k = np.asarray(k, np.float64)
  return k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()


def hsic(k: np.ndarray, l: np.ndarray) -> float:
  """HSIC(K, L) = tr(K H L H) / (n - 1)^2 (Kornblith et al., Eq. 3: Gretton et al. 2005)."""
  n = k.shape[0]
  return float(np.sum(center_gram(k) * center_gram(l)) / (n - 1) ** 2)


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
  """HSIC_1 (Nguyen et al., Eq. 3; Song et al. 2012):
  [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3)),
  with K~, L~ the Gram matrices with zeroed diagonals. Needs n >= 4."""
  n = k.shape[0]
  if n < 4:
    raise DataError(f"the unbiased HSIC needs at least 4 examples per batch, got {n}; "
                    "use a larger batch_size")
  kt = np.asarray(k, np.float64).copy()
  lt = np.asarray(l, np.float64).copy()
  np.fill_diagonal(kt, 0.0)
  np.fill_diagonal(lt, 0.0)
  ones_k, ones_l = kt.sum(1), lt.sum(1)                      # K~ 1, L~ 1
  trace = np.sum(kt * lt)                                    # tr(K~ L~), both symmetric
  return float((trace + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * ones_k @ ones_l) / (n * (n - 3)))


def linear_cka(x, y) -> float:
  """CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels (Eq. 4), in
  its feature-space form ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred columns."""
  x, y = _pair(x, y)
  x = x - x.mean(0)
  y = y - y.mean(0)
  cross = np.linalg.norm(y.T @ x) ** 2
  denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
  if denom == 0:
    raise DataError("a representation is constant over the examples, so CKA is undefined; "
                    "check the layer or pass more varied examples")
  return float(cross / denom)


def _batches(n: int, batch_size: int):
  if batch_size < 4 or n < batch_size:
    raise DataError(f"batch_size {batch_size} for {n} examples: it must be >= 4 and <= the "
                    "number of examples")
  return [slice(i, i + batch_size) for i in range(0, n - batch_size + 1, batch_size)]


def minibatch_cka(batches: Iterable[tuple]) -> float:
  """Nguyen et al., Eq. 2: CKA = sum_i HSIC_1(K_i, L_i) / sqrt(sum_i HSIC_1(K_i, K_i)
  sum_i HSIC_1(L_i, L_i)) over minibatches (x_i, y_i) of the same examples."""
  kl = kk = ll = 0.0
  for x, y in batches:
    x, y = _pair(x, y)
    k, l = x @ x.T, y @ y.T
    kl += hsic_unbiased(k, l)
    kk += hsic_unbiased(k, k)
    ll += hsic_unbiased(l, l)
  if kk <= 0 or ll <= 0:
    raise DataError("the accumulated self-HSIC is not positive (no batches, or constant "
                    "features); pass more batches or more examples per batch")
  return float(kl / np.sqrt(kk * ll))


def cka_matrix(layers_a: Sequence, layers_b: Sequence | None = None,
               batch_size: int | None = None) -> np.ndarray:
  """[len(layers_a), len(layers_b)] CKA between every pair of layers (each [n, ...], the same
  n examples in the same order; layers_b defaults to layers_a). batch_size None: linear CKA
  with the full HSIC; else the minibatch estimator over consecutive batches of that size
  (a last partial batch is dropped), Gram matrices computed once per layer and batch."""
  layers_a = [_features(x, "layers_a[i]") for x in layers_a]
  layers_b = layers_a if layers_b is None else [_features(x, "layers_b[j]") for x in layers_b]
  n = layers_a[0].shape[0]
  if any(x.shape[0] != n for x in list(layers_a) + list(layers_b)):
    raise DataError("the layers hold different numbers of examples; CKA needs the same "
                    "examples, in order, for every layer")
  if batch_size is None:
    return np.array([[linear_cka(a, b) for b in layers_b] for a in layers_a])
  cross = np.zeros((len(layers_a), len(layers_b)))
  self_a, self_b = np.zeros(len(layers_a)), np.zeros(len(layers_b))
  for s in _batches(n, batch_size):
    grams_a = [x[s] @ x[s].T for x in layers_a]
    grams_b = [x[s] @ x[s].T for x in layers_b]
    self_a += [hsic_unbiased(k, k) for k in grams_a]
    self_b += [hsic_unbiased(l, l) for l in grams_b]
    cross += [[hsic_unbiased(k, l) for l in grams_b] for k in grams_a]
  return cross / np.sqrt(np.outer(self_a, self_b))
