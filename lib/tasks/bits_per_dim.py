"""Nats per example -> bits per dimension, the unit of the likelihood models (Glow, VAE)."""
from __future__ import annotations

import numpy as np


def bits_per_dim(nll_nats, num_dims: int):
  """bpd = -log p(x) / (D ln 2), from the negative log-likelihood (or its bound) in nats."""
  return nll_nats / (num_dims * np.log(2.0))
