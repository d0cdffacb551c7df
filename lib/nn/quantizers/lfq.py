"""Lookup-Free Quantization (Yu et al. 2023, MAGVIT-v2, "Language Model Beats Diffusion:
Tokenizer is Key to Visual Generation", Sec. 3.1).

Each of the `bits` channels is quantized on its own to {-1, 1} (Eq. 3: q(z_i) = sign(z_i),
times `codebook_scale`), with a straight-through gradient; the token is
Index(z) = sum_i 1[z_i > 0] 2^i (Eq. 4, bit i weighted by prod_{b<i} |C_b| = 2^i), so the
implicit codebook is the 2^bits sign vectors. The entropy penalty (Eq. 5)
  L_entropy = E[H(q(z))] - gamma H(E[q(z)])
makes each token confident and the batch use the codebook uniformly. As in lucidrains'
lookup-free-quantization (vector-quantize-pytorch's LFQ), q(z) is a softmax over the implicit
codebook of the scaled negative squared distance, -||z - c_k||^2 * inv_temperature (equal to
2 z.c_k * inv_temperature up to a per-row constant), H(p) = -sum_k p_k log max(p_k, 1e-5),
the batch term is the entropy of the mean probability, and the objective adds
  entropy_loss_weight * L_entropy + commitment_weight * ||z - sg(q)||^2
(defaults there: 0.1, gamma 1, inv_temperature 100, 0.25). The entropy needs the [N, 2^bits]
probabilities, so it is computed only for bits <= max_entropy_bits.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.quantizers.code_statistics import as_float32_rows, code_histogram_metrics
from lib.nn.quantizers.straight_through import straight_through


def entropy(p, axis: int = -1):
  """-sum p log max(p, 1e-5) (lucidrains' clamp, so the gradient stays finite at p = 0)."""
  return -jnp.sum(p * jnp.log(jnp.maximum(p, 1e-5)), axis=axis)


def bits_of(indices, bits: int):
  """int indices [...] -> {0, 1} bits [..., bits], bit i of weight 2^i."""
  return (jnp.asarray(indices, jnp.int32)[..., None] >> jnp.arange(bits, dtype=jnp.int32)) & 1


class LookupFreeQuantizer(nn.Module):
  """z [B, ..., bits] -> (q in {-s, s} of z's dtype, aux); aux: indices [B, ...] int32,
  commitment_loss, per_sample_entropy, batch_entropy, entropy_loss (weighted), loss,
  codebook_usage, perplexity."""
  bits: int = 10
  codebook_scale: float = 1.0
  entropy_loss_weight: float = 0.1
  diversity_gamma: float = 1.0
  inv_temperature: float = 100.0
  commitment_weight: float = 0.25
  max_entropy_bits: int = 16

  def _check(self):
    if not 1 <= self.bits <= 30:
      raise ConfigError(f"LookupFreeQuantizer: bits={self.bits}; use 1 to 30 bits (the token "
                        "index is int32).")
    if self.entropy_loss_weight > 0 and self.bits > self.max_entropy_bits:
      raise ConfigError(f"LookupFreeQuantizer: the entropy term over 2^{self.bits} codes needs "
                        f"an [N, 2^{self.bits}] array; use bits <= max_entropy_bits "
                        f"({self.max_entropy_bits}) or entropy_loss_weight=0.")

  @property
  def codebook_size(self) -> int:
    return 2 ** self.bits

  def implicit_codebook(self):
    """All 2^bits codes [2^bits, bits] float32, row k = the code of index k."""
    return self.indices_to_codes(jnp.arange(2 ** self.bits))

  def indices_to_codes(self, indices):
    """int indices [...] -> codes [..., bits] in {-s, s}, float32."""
    return (2.0 * bits_of(indices, self.bits).astype(jnp.float32) - 1.0) * self.codebook_scale

  def entropy_terms(self, rows):
    """(per-sample entropy E[H(q(z))], batch entropy H(E[q(z)])) over the implicit codebook."""
    codebook = self.implicit_codebook()
    distances = (jnp.sum(rows ** 2, -1, keepdims=True) - 2.0 * rows @ codebook.T
                 + jnp.sum(codebook ** 2, -1)[None, :])
    prob = jax.nn.softmax(-distances * self.inv_temperature, axis=-1)     # q(z) [N, 2^bits]
    return jnp.mean(entropy(prob)), entropy(jnp.mean(prob, axis=0))

  def __call__(self, z):
    self._check()
    rows = as_float32_rows(z, self.bits, "LookupFreeQuantizer", "bits")
    positive = rows > 0
    q = jnp.where(positive, self.codebook_scale, -self.codebook_scale)      # Eq. 3
    indices = jnp.sum(positive.astype(jnp.int32) << jnp.arange(self.bits, dtype=jnp.int32),
                      axis=-1)                                              # Eq. 4
    commitment_loss = self.commitment_weight * jnp.mean((rows - q) ** 2)   # q is constant
    if self.entropy_loss_weight > 0:
      per_sample, batch = self.entropy_terms(rows)
    else:
      per_sample = batch = jnp.zeros((), jnp.float32)
    entropy_loss = self.entropy_loss_weight * (per_sample - self.diversity_gamma * batch)  # Eq. 5
    aux = {"indices": indices.reshape(z.shape[:-1]), "commitment_loss": commitment_loss,
           "per_sample_entropy": per_sample, "batch_entropy": batch,
           "entropy_loss": entropy_loss, "loss": commitment_loss + entropy_loss,
           **code_histogram_metrics(indices, 2 ** self.bits)}
    return straight_through(rows, q).reshape(z.shape).astype(z.dtype), aux
