"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 4).

IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean of p(y|x) over each split; computed on
consecutive splits of the samples (the official code's protocol, 10 splits), reported as the
mean and std over splits. Float64 numpy.
"""
from __future__ import annotations

import numpy as np
import scipy.special


def split_scores(logits=None, *, probs=None, splits: int = 10) -> np.ndarray:
  """IS of each split [splits]. Give class logits [N, C] (softmax applied) or probs [N, C]."""
  if (logits is None) == (probs is None):
    raise ValueError("give exactly one of logits or probs")
  if logits is not None:
    log_p = scipy.special.log_softmax(np.asarray(logits, np.float64), axis=-1)
  else:
    p = np.asarray(probs, np.float64)
    with np.errstate(divide="ignore"):
      log_p = np.log(p / p.sum(-1, keepdims=True))
  n = len(log_p)
  if n < splits:
    raise ValueError(f"{n} samples cannot make {splits} splits")
  scores = np.empty(splits, np.float64)
  for i in range(splits):
    part = log_p[i * n // splits:(i + 1) * n // splits]
    p = np.exp(part)
    log_py = np.log(p.mean(axis=0))
    # KL(p(y|x) || p(y)) = sum_y p(y|x) (log p(y|x) - log p(y)); 0 log 0 = 0.
    kl = (p * np.where(p > 0, part - log_py, 0.0)).sum(axis=-1)
    scores[i] = np.exp(kl.mean())
  return scores


def inception_score(logits=None, *, probs=None, splits: int = 10) -> tuple[float, float]:
  """(mean, std) of the Inception Score over `splits` consecutive splits."""
  s = split_scores(logits, probs=probs, splits=splits)
  return float(s.mean()), float(s.std())
