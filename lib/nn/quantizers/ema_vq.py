"""VQ-VAE with exponential-moving-average codebook updates (van den Oord et al. 2017,
Appendix A.1; sonnet's `VectorQuantizerEMA`) and dead-code random restart.

The codebook is not trained by gradients: it lives, with its EMA statistics, in the mutable
collection 'quantizer_stats' (apply with `mutable=["quantizer_stats"]` and `update=True` in
a train step). With one-hot assignments E [N, K] of the batch rows z [N, D]:
  N_k <- gamma N_k + (1 - gamma) sum_i E_ik                 (cluster sizes, gamma = 0.99)
  m_k <- gamma m_k + (1 - gamma) sum_i E_ik z_i             (embedding sums)
  N_k~ = (N_k + eps) / (n + K eps) * n,  n = sum_k N_k      (Laplace smoothing, eps = 1e-5)
  e_k  = m_k / N_k~
sonnet's formulas, with one difference: sonnet zero-debiases its EMAs (N starts at 0, m at
e), so after the first step an unused code becomes 0. Here the EMAs are plain and start at
N_k = 1, m_k = e_k (as lucidrains' vector-quantize-pytorch does), so e = m / N holds from the
first step without debiasing.
The objective has only the commitment loss beta ||z - sg(e)||^2 (beta = 0.25).

Dead-code restart follows Jukebox's random restart (Dhariwal et al. 2020, Sec. 3.2 and its
`vqvae/bottleneck.py`): after the update, every code whose EMA usage N_k is below
`restart_threshold` (Jukebox: 1.0) becomes a randomly chosen encoder output of the current
batch (rng stream 'quantizer'). Jukebox leaves that code's EMA sums stale; here they are reset
to N_k = restart_threshold, m_k = restart_threshold * e_k, so the next EMA step starts from the
new code. `restart_threshold=0` turns the restart off.
The returned z_q and indices are those of the codebook before this step's update.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.quantizers.code_statistics import as_float32_rows, code_histogram_metrics
from lib.nn.quantizers.straight_through import straight_through
from lib.nn.quantizers.vq import codebook_init, nearest_code

COLLECTION = "quantizer_stats"


def ema_codebook_update(rows, indices, cluster_size, embed_sum, decay: float, epsilon: float):
  """One EMA step (sonnet's formulas) -> (cluster_size, embed_sum, codebook)."""
  num_codes = cluster_size.shape[0]
  onehot = jax.nn.one_hot(indices, num_codes, dtype=jnp.float32)         # E [N, K]
  cluster_size = decay * cluster_size + (1.0 - decay) * onehot.sum(0)     # N_k
  embed_sum = decay * embed_sum + (1.0 - decay) * onehot.T @ rows         # m_k
  n = cluster_size.sum()
  smoothed = (cluster_size + epsilon) / (n + num_codes * epsilon) * n     # Laplace smoothing
  return cluster_size, embed_sum, embed_sum / smoothed[:, None]           # e_k = m_k / N_k~


def random_restart(rng, rows, cluster_size, embed_sum, codebook, threshold: float):
  """Codes with N_k < threshold -> random batch rows (Jukebox), their EMA sums reset."""
  dead = cluster_size < threshold
  picks = rows[jax.random.randint(rng, (codebook.shape[0],), 0, rows.shape[0])]
  codebook = jnp.where(dead[:, None], picks, codebook)
  cluster_size = jnp.where(dead, threshold, cluster_size)
  embed_sum = jnp.where(dead[:, None], threshold * picks, embed_sum)
  return cluster_size, embed_sum, codebook, dead


class VectorQuantizerEMA(nn.Module):
  """z [B, ..., D] -> (z_q of z's dtype, aux); aux: indices [B, ...] int32, commitment_loss,
  loss (= commitment_loss), codebook_usage, perplexity, restarted_codes (count, 0 unless
  updating). `update=True` (with 'quantizer_stats' mutable) applies one EMA step."""
  num_codes: int = 512
  beta: float = 0.25
  decay: float = 0.99
  epsilon: float = 1e-5
  restart_threshold: float = 1.0

  @nn.compact
  def __call__(self, z, update: bool = False):
    if self.num_codes < 2 or not 0.0 <= self.decay < 1.0:
      raise ConfigError(f"VectorQuantizerEMA: num_codes={self.num_codes}, decay={self.decay}; "
                        "need num_codes >= 2 and 0 <= decay < 1 (the paper: 512 and 0.99).")
    rows = as_float32_rows(z, None, "VectorQuantizerEMA", "code_dim")
    dim = rows.shape[-1]
    codebook = self.variable(COLLECTION, "codebook",
                             lambda: codebook_init(self.make_rng("params"),
                                                   (self.num_codes, dim), jnp.float32))
    cluster_size = self.variable(COLLECTION, "cluster_size",        # N_k, starts at 1
                                 lambda: jnp.ones((self.num_codes,), jnp.float32))
    embed_sum = self.variable(COLLECTION, "embed_sum", lambda: codebook.value)   # m_k = e_k
    indices = nearest_code(rows, codebook.value)
    e = codebook.value[indices]
    commitment_loss = self.beta * jnp.mean((rows - jax.lax.stop_gradient(e)) ** 2)
    restarted = jnp.zeros((), jnp.float32)
    if update and not self.is_initializing():
      if not self.is_mutable_collection(COLLECTION):
        raise ConfigError("VectorQuantizerEMA(update=True) updates its codebook: apply it with "
                          f"mutable=['{COLLECTION}'] and keep the returned collection.")
      stats = ema_codebook_update(jax.lax.stop_gradient(rows), indices, cluster_size.value,
                                  embed_sum.value, self.decay, self.epsilon)
      if self.restart_threshold > 0:
        *stats, dead = random_restart(self.make_rng("quantizer"), jax.lax.stop_gradient(rows),
                                      *stats, self.restart_threshold)
        restarted = dead.sum().astype(jnp.float32)
      cluster_size.value, embed_sum.value, codebook.value = stats
    quantized = straight_through(rows, jax.lax.stop_gradient(e))           # z + sg(e - z)
    aux = {"indices": indices.reshape(z.shape[:-1]), "commitment_loss": commitment_loss,
           "loss": commitment_loss, "restarted_codes": restarted,
           **code_histogram_metrics(indices, self.num_codes)}
    return quantized.reshape(z.shape).astype(z.dtype), aux

  def indices_to_codes(self, indices):
    """Token ids [B, ...] -> code vectors [B, ..., D] float32 (the decoder's input)."""
    if not self.has_variable(COLLECTION, "codebook"):
      raise ConfigError(f"VectorQuantizerEMA.indices_to_codes needs the '{COLLECTION}' "
                        "collection of a module initialised on an encoder output.")
    return self.get_variable(COLLECTION, "codebook")[jnp.asarray(indices, jnp.int32)]
