"""Matryoshka Representation Learning (Kusupati et al., 2022), the heads.

A representation z in R^d is trained so that every prefix z[:m], m in the nesting list M
(e.g. (4, 8, 16, 32, 64)), is a good representation by itself: one linear classifier W_m per
prefix, logits_m = W_m z[:m] + b_m (Sec. 3), and the loss is the sum over m of their
cross-entropies (Eq. 1; lib/tasks/classify.py: matryoshka_cross_entropy). MRL-E
(`efficient=True`) ties the heads: one W in R^{C x max(M)} whose first m columns classify z[:m]
(logits_m = W[:, :m] z[:m] + b). Both as the official MRL_Linear_Layer (RAIVNLab/MRL, MRL.py),
whose heads are named `nesting_classifier_<i>` (MRL-E: only `nesting_classifier_0`, its bias
shared by every prefix); the kernels here are [in, out] and initialised as any flax Dense
(lecun normal, zero bias) rather than torch's uniform.

`Matryoshka` wraps any classifier that has a `features_only=True` call returning its features:
`pool` turns them into z ("first": token 0, the ViT's pre-logits, i.e. the [class] token after
the final LayerNorm; "mean": the mean over the token axis; "none": features already [B, d]).
The backbone's own head is never built (features_only returns before it).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.errors import ConfigError

POOLS = ("first", "mean", "none")


def check_nesting(nesting, d: int) -> tuple[int, ...]:
  """Strictly increasing positive dims, the largest at most the representation size d."""
  nesting = tuple(int(m) for m in nesting)
  if (not nesting or nesting[0] < 1 or any(a >= b for a, b in zip(nesting, nesting[1:]))
      or nesting[-1] > d):
    raise ConfigError(f"config.matryoshka.nesting={nesting}: give strictly increasing dims "
                      f"from 1 to the representation size {d}, e.g. (4, 8, 16, 32, {d})")
  return nesting


class MatryoshkaHead(nn.Module):
  """z [B, d] -> nested logits [G, B, num_classes], one slice per m in `nesting`."""
  num_classes: int
  nesting: tuple[int, ...]
  efficient: bool = False   # MRL-E: one weight-tied head
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    nesting = check_nesting(self.nesting, z.shape[-1])
    if not self.efficient:  # logits_m = W_m z[:m] + b_m
      return jnp.stack([nn.Dense(self.num_classes, dtype=self.dtype,
                                 name=f"nesting_classifier_{i}")(z[:, :m])
                        for i, m in enumerate(nesting)])
    tied = nn.Dense(self.num_classes, dtype=self.dtype, name="nesting_classifier_0")
    tied(z[:, :nesting[-1]])  # creates W [max(M), C] and b
    kernel = tied.variables["params"]["kernel"].astype(self.dtype)
    bias = tied.variables["params"]["bias"].astype(self.dtype)
    x = z.astype(self.dtype)
    return jnp.stack([x[:, :m] @ kernel[:m] + bias for m in nesting])  # W[:, :m] z[:m] + b


class Matryoshka(nn.Module):
  """A classifier's representation with Matryoshka heads: images -> [G, B, num_classes]."""
  backbone: nn.Module
  num_classes: int
  nesting: tuple[int, ...]
  efficient: bool = False
  pool: str = "first"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    if self.pool not in POOLS:
      raise ConfigError(f"config.matryoshka.pool={self.pool!r}: use one of {POOLS}")
    f = self.backbone(images, train=train, features_only=True)
    z = {"first": lambda: f[:, 0], "mean": lambda: f.mean(1), "none": lambda: f}[self.pool]()
    self.sow("intermediates", "representation", z)
    return MatryoshkaHead(self.num_classes, self.nesting, self.efficient, self.dtype,
                          name="head")(z)
