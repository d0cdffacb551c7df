"""Per-layer linear probes and the logit lens.

- Linear probes (Alain & Bengio 2016, "Understanding intermediate layers using linear
  classifier probes", Sec. 3): a multinomial logistic regression p(y | h) = softmax(W h + b)
  trained on frozen features h of one layer; its test accuracy measures how linearly
  decodable the label is there. Trained here full-batch with optax (Adam, L2 penalty) on
  features standardised with the train statistics.
- Logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens"): the model's own final
  norm and head applied to an intermediate residual stream, logits_l = head(norm(h_l)).
  Generic over `head_fn`; `vit_head_fn` builds it for research/vit (encoder_norm, then the
  head on the [class] token).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib.errors import DataError


def _check(x, y, name):
  x = np.asarray(x, np.float32)
  y = np.asarray(y)
  if x.ndim < 2 or y.shape != (x.shape[0],):
    raise DataError(f"{name}: features {x.shape} and labels {y.shape} do not pair up; pass "
                    "features [n, ...] and integer labels [n]")
  if not np.issubdtype(y.dtype, np.integer):
    raise DataError(f"{name}: labels of dtype {y.dtype} are not integer class ids")
  return x.reshape(x.shape[0], -1), y.astype(np.int32)


def linear_probe(train_x, train_y, test_x, test_y, num_classes: int | None = None,
                 steps: int = 300, learning_rate: float = 0.05, l2: float = 1e-4,
                 seed: int = 0) -> dict:
  """Fits softmax(W h + b) on (train_x, train_y) and returns {'accuracy': test accuracy,
  'train_accuracy': ..., 'params': (W, b)}; features are flattened per example."""
  train_x, train_y = _check(train_x, train_y, "train")
  test_x, test_y = _check(test_x, test_y, "test")
  if train_x.shape[1] != test_x.shape[1]:
    raise DataError(f"train features have {train_x.shape[1]} dims, test {test_x.shape[1]}; "
                    "probe the same layer in both")
  num_classes = num_classes or int(max(train_y.max(), test_y.max())) + 1
  if min(train_y.min(), test_y.min()) < 0 or max(train_y.max(), test_y.max()) >= num_classes:
    raise DataError(f"labels outside [0, {num_classes}); pass class ids from 0 and a "
                    "num_classes above the largest")
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  xs, xt = (train_x - mean) / std, (test_x - mean) / std
  d = xs.shape[1]
  params = (jax.random.normal(jax.random.key(seed), (d, num_classes)) * 0.01,
            jnp.zeros((num_classes,)))
  tx = optax.adam(learning_rate)

  def loss_fn(p, x, y):
    logits = x @ p[0] + p[1]                                           # W h + b
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return nll + l2 * jnp.sum(p[0] ** 2)

  @jax.jit
  def fit(p, x, y):
    def step(carry, _):
      p, s = carry
      grads = jax.grad(loss_fn)(p, x, y)
      updates, s = tx.update(grads, s, p)
      return (optax.apply_updates(p, updates), s), None
    (p, _), _ = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
    return p

  params = fit(params, jnp.asarray(xs), jnp.asarray(train_y))
  acc = lambda x, y: float(np.mean(np.argmax(np.asarray(x @ params[0] + params[1]), -1) == y))
  return {"accuracy": acc(xt, test_y), "train_accuracy": acc(xs, train_y), "params": params}


def probe_layers(layers: Sequence, labels, test_fraction: float = 0.25, seed: int = 0,
                 **probe_kwargs) -> np.ndarray:
  """Test accuracy of a linear probe on each layer's features (each [n, ...], the same n
  examples as `labels`), on one seeded train/test split shared by every layer."""
  labels = np.asarray(labels)
  n = labels.shape[0]
  n_test = int(round(n * test_fraction))
  if not 0 < n_test < n:
    raise DataError(f"test_fraction {test_fraction} of {n} examples leaves an empty split; "
                    "pass a fraction in (0, 1) and enough examples")
  order = np.random.default_rng(seed).permutation(n)
  test, train = order[:n_test], order[n_test:]
  num_classes = int(labels.max()) + 1
  accs = []
  for x in layers:
    x = np.asarray(x)
    if x.shape[0] != n:
      raise DataError(f"a layer holds {x.shape[0]} examples for {n} labels; pass every "
                      "layer's features of the same examples")
    accs.append(linear_probe(x[train], labels[train], x[test], labels[test], num_classes,
                             seed=seed, **probe_kwargs)["accuracy"])
  return np.array(accs)


def logit_lens(streams: Sequence, head_fn: Callable) -> np.ndarray:
  """logits_l = head_fn(h_l) for every intermediate residual stream h_l (the logit lens):
  streams [L, ...] (or a list) -> [L, ...logits]."""
  return np.stack([np.asarray(head_fn(jnp.asarray(h))) for h in streams])


def vit_head_fn(params: dict) -> Callable:
  """The ViT's final LayerNorm and linear head on the [class] token (research/vit Eq. 4), as
  a function of a residual stream [B, 1 + N, hidden] -> logits [B, classes]."""
  for key in ("encoder_norm", "head"):
    if key not in params:
      raise DataError(f"params have no '{key}' (keys: {sorted(params)}); vit_head_fn takes "
                      "the params of research.vit.model.ViT, else write a head_fn")
  norm = nn.LayerNorm()

  def head_fn(h):
    z = norm.apply({"params": params["encoder_norm"]}, h)
    return z[:, 0] @ params["head"]["kernel"] + params["head"]["bias"]

  return head_fn
