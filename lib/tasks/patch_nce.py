"""PatchNCE (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation", Eq. 2-3), after PatchNCELoss and PatchSampleF in
taesungp/contrastive-unpaired-translation.

For one encoder layer, the same `num_patches` locations are drawn for the input x and its
translation G(x); the query q is the (projected, L2-normalised) feature of G(x) at a
location, the positive k+ that of x at the same location, the negatives k- those of x at the
other drawn locations of the same image (nce_includes_all_negatives_from_minibatch=False):
  l(q, k+, k-) = -log( exp(q.k+/tau) / (exp(q.k+/tau) + sum_n exp(q.k-_n/tau)) )   # Eq. 2
The keys are not differentiated (detached, as the official loss). The loss is the mean over
patches and images; over layers (Eq. 3) the mean of the per-layer losses.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

SELF_LOGIT = -10.0     # the official code fills the q.k of the query's own location with -10


def sample_patch_ids(rng, feats, num_patches: int):
  """Per layer, `num_patches` distinct flat locations (all when the map is smaller)."""
  ids = []
  for i, f in enumerate(feats):
    hw = f.shape[1] * f.shape[2]
    perm = jax.random.permutation(jax.random.fold_in(rng, i), hw)
    ids.append(perm[:min(num_patches, hw)])
  return ids


def gather_patches(feat, ids):
  """feat [B, H, W, C] -> [B, N, C] at flat locations ids [N]."""
  b, h, w, c = feat.shape
  return feat.reshape(b, h * w, c)[:, ids]


def patch_nce_layer(q, k, temperature: float):
  """Eq. 2 over one layer: q, k [B, N, D] (L2-normalised), positives on the diagonal."""
  q = q.astype(jnp.float32)
  k = jax.lax.stop_gradient(k.astype(jnp.float32))
  l_pos = jnp.sum(q * k, axis=-1, keepdims=True)                       # [B, N, 1]
  l_neg = jnp.einsum("bnd,bmd->bnm", q, k)                             # [B, N, N]
  n = q.shape[1]
  l_neg = jnp.where(jnp.eye(n, dtype=bool)[None], SELF_LOGIT, l_neg)
  logits = jnp.concatenate([l_pos, l_neg], axis=-1) / temperature
  labels = jnp.zeros(logits.shape[:2], jnp.int32)                      # the positive first
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def patch_nce_loss(q_layers, k_layers, temperature: float):
  """Eq. 3: the mean over layers of Eq. 2."""
  losses = [patch_nce_layer(q, k, temperature) for q, k in zip(q_layers, k_layers)]
  return sum(losses) / len(losses)
