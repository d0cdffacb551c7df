"""Gradient accumulation over micro-batches inside one jitted step (a lax.scan, no Python loop)."""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def value_and_grad_accumulated(loss_fn: Callable, params: Any, batch: Any, rng: jax.Array,
                               num_micro: int, has_aux: bool = True):
  """Mean of `jax.value_and_grad(loss_fn, has_aux)(params, micro, rng_i)` over `num_micro` splits.

  loss_fn(params, batch, rng) -> (loss, aux) where aux is a dict of scalar metrics.
  """
  grad_fn = jax.value_and_grad(loss_fn, has_aux=has_aux)
  if num_micro == 1:
    return grad_fn(params, batch, rng)
  micro = jax.tree.map(lambda x: x.reshape((num_micro, x.shape[0] // num_micro) + x.shape[1:]),
                       batch)
  rngs = jax.random.split(rng, num_micro)

  def body(carry, xs):
    mb, r = xs
    out, g = grad_fn(params, mb, r)
    carry = jax.tree.map(jnp.add, carry, (out, g))
    return carry, None

  zero_out = jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: grad_fn(params, jax.tree.map(lambda x: x[0], micro), rngs[0])))
  total, _ = jax.lax.scan(body, zero_out, (micro, rngs))
  return jax.tree.map(lambda x: x / num_micro, total)
