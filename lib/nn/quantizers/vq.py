"""VQ-VAE vector quantization (van den Oord et al. 2017, "Neural Discrete Representation
Learning", Sec. 3.1-3.2).

Follows google-deepmind sonnet's `VectorQuantizer` (the authors' code): the nearest codebook
entry by squared L2 distance ||z||^2 - 2 z.e + ||e||^2, the straight-through estimator
z_q = z + sg(e_k - z), and the paper's objective (Eq. 3) without the reconstruction term:
  codebook loss   ||sg(z) - e_k||^2           (moves the codes)
  commitment loss beta ||z - sg(e_k)||^2      (beta = 0.25, the paper's value)
each a mean over all elements, as sonnet does. (taming-transformers' VectorQuantizer2 in its
default `legacy=True` puts beta on the codebook term instead; we keep the paper's form.)
`l2_normalize=True` l2-normalises z and the codes before the look-up: ViT-VQGAN's "l2-normalized
codes" (Yu et al. 2022, Sec. 3.2), i.e. nearest by cosine similarity.
The codebook is a parameter [num_codes, D], D taken from the input at init; sonnet's
uniform-unit-scaling init (U(-sqrt(3/D), sqrt(3/D))).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.quantizers.code_statistics import as_float32_rows, code_histogram_metrics
from lib.nn.quantizers.straight_through import straight_through

codebook_init = nn.initializers.variance_scaling(1.0, "fan_in", "uniform", in_axis=-1,
                                                 out_axis=-2)


def l2_normalized(x, eps: float = 1e-12):
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps))


def nearest_code(rows, codebook):
  """argmin_k ||z - e_k||^2 for rows [N, D] and codebook [K, D] -> int32 [N]."""
  distances = (jnp.sum(rows ** 2, axis=-1, keepdims=True) - 2.0 * rows @ codebook.T
               + jnp.sum(codebook ** 2, axis=-1)[None, :])
  return jnp.argmin(distances, axis=-1).astype(jnp.int32)


class VectorQuantizer(nn.Module):
  """z [B, ..., D] -> (z_q of z's dtype, aux); aux: indices [B, ...] int32, codebook_loss,
  commitment_loss (beta included), loss (their sum), codebook_usage, perplexity."""
  num_codes: int = 512
  beta: float = 0.25
  l2_normalize: bool = False

  def _normalized(self, codebook):
    return l2_normalized(codebook) if self.l2_normalize else codebook

  @nn.compact
  def __call__(self, z):
    if self.num_codes < 2:
      raise ConfigError(f"VectorQuantizer: num_codes={self.num_codes}; a codebook needs at "
                        "least 2 codes (VQ-VAE used 512).")
    rows = as_float32_rows(z, None, "VectorQuantizer", "code_dim")
    codebook = self._normalized(self.param("codebook", codebook_init,
                                           (self.num_codes, rows.shape[-1]), jnp.float32))
    if self.l2_normalize:
      rows = l2_normalized(rows)
    indices = nearest_code(rows, codebook)
    e = codebook[indices]
    codebook_loss = jnp.mean((jax.lax.stop_gradient(rows) - e) ** 2)      # ||sg(z) - e||^2
    commitment_loss = self.beta * jnp.mean((rows - jax.lax.stop_gradient(e)) ** 2)
    quantized = straight_through(rows, e)                                 # z + sg(e - z)
    aux = {"indices": indices.reshape(z.shape[:-1]), "codebook_loss": codebook_loss,
           "commitment_loss": commitment_loss, "loss": codebook_loss + commitment_loss,
           **code_histogram_metrics(indices, self.num_codes)}
    return quantized.reshape(z.shape).astype(z.dtype), aux

  def indices_to_codes(self, indices):
    """Token ids [B, ...] -> code vectors [B, ..., D] float32 (the decoder's input)."""
    if not self.has_variable("params", "codebook"):
      raise ConfigError("VectorQuantizer.indices_to_codes needs the trained params; apply it "
                        "with the variables of a module initialised on an encoder output.")
    codebook = self._normalized(self.get_variable("params", "codebook"))
    return codebook[jnp.asarray(indices, jnp.int32)]
