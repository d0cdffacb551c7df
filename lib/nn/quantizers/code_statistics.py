"""What every quantizer shares: the float32 row view of channels-last inputs and the batch
code-histogram metrics (codebook usage, perplexity)."""
from __future__ import annotations

import jax.numpy as jnp

from lib.errors import ConfigError


def as_float32_rows(z, expected_dim: int | None, owner: str, key: str):
  """z [B, ..., D] (channels last) -> float32 rows [N, D] (bf16 cannot hold large indices)."""
  if z.ndim < 2:
    raise ConfigError(f"{owner} expects channels-last inputs [B, H, W, D] or [B, N, D], got "
                      f"shape {tuple(z.shape)}; reshape the encoder output to put the code "
                      "dimension last.")
  if expected_dim is not None and z.shape[-1] != expected_dim:
    raise ConfigError(f"{owner}: the input's last dimension is {z.shape[-1]} but `{key}` "
                      f"implies {expected_dim}; set the encoder's output channels to "
                      f"{expected_dim} or change `{key}`.")
  return jnp.asarray(z, jnp.float32).reshape(-1, z.shape[-1])


def code_histogram_metrics(indices, num_codes: int) -> dict:
  """`codebook_usage` (fraction of the codes used in the batch) and `perplexity`.

  perplexity = exp(-sum_k p_k log p_k), p_k = count_k / N: the batch code histogram's
  effective number of codes (sonnet's VQ-VAE metric, with 0 log 0 = 0 instead of +1e-10).
  """
  counts = jnp.bincount(indices.reshape(-1), length=num_codes).astype(jnp.float32)
  p = counts / jnp.maximum(counts.sum(), 1.0)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
  return {"codebook_usage": jnp.mean((counts > 0).astype(jnp.float32)),
          "perplexity": jnp.exp(entropy)}
