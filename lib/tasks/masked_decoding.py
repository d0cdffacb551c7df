"""MaskGIT's iterative parallel decoding (Chang et al. 2022, Sec. 3.2 and Algorithm "iterative
decoding"; the official maskgit/libml/parallel_decode.py), jitted with static shapes: a
lax.fori_loop over T steps on [B, L] token ids.

Step t = 0 .. T-1, with ratio = (t + 1) / T and n0 the number of unknown tokens at the start:
1. logits = f(tokens with the unknown ones set to [MASK]);
2. sample every unknown token, s_i ~ Cat(softmax(logits_i)); known tokens stay as they are;
3. confidence c_i = log p(s_i) + tau (1 - ratio) g_i, g_i ~ Gumbel(0, 1), tau the choice
   temperature (the official annealing: (1 - (t + 1)/T), zero at the last step); known tokens
   get c = +inf, so a kept token is never masked again;
4. re-mask the n_t least confident, n_t = floor(n0 gamma(ratio)) clipped to [1, u_t - 1] with
   u_t the unknown count before the step (at least one new token per step, at least one left
   for the next); at the last step n_t = 0 (the official decoder returns the last step's
   samples before its re-masking).
Differences from the official code: the lowest n_t confidences are chosen by rank (argsort),
so exactly n_t tokens are re-masked even when confidences tie (the official `c < cut_off`
masks fewer on ties); when u_t = 1 before the last step the last token is revealed (the
official keeps it masked one more step), which only happens when n0 < T.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from lib.tasks import mask_schedules


def num_to_mask(n0, unknown_count, t, num_iter: int, schedule: str):
  """n_t: the tokens left masked after step t (see the module docstring)."""
  ratio = (t + 1) / num_iter
  # + 1e-4: a product that is an integer in exact arithmetic (40 cos(pi/3) = 20) is not
  # floored one below by float32 rounding
  n = jnp.floor(n0 * mask_schedules.clipped(ratio, schedule) + 1e-4).astype(jnp.int32)
  n = jnp.minimum(jnp.maximum(n, 1), unknown_count - 1)
  return jnp.where(t == num_iter - 1, 0, jnp.maximum(n, 0))


def decode(logits_fn: Callable, tokens, unknown, rng, *, num_iter: int,
           choice_temperature: float, schedule: str = "cosine", mask_id: int):
  """Fill the `unknown` positions of `tokens` [B, L] (int32; values there are ignored).

  `logits_fn(ids [B, L]) -> [B, L, V]` sees the unknown positions as `mask_id`. Returns
  (tokens [B, L] with every position known, history [T, B, L]: the ids after each step with
  the still-masked positions set to `mask_id`).
  """
  tokens = jnp.asarray(tokens, jnp.int32)
  unknown = jnp.asarray(unknown, bool)
  n0 = jnp.sum(unknown, axis=-1)

  def body(t, carry):
    cur, unk, key, history = carry
    key, k_sample, k_choice = jax.random.split(key, 3)
    logits = logits_fn(jnp.where(unk, mask_id, cur)).astype(jnp.float32)
    sampled = jax.random.categorical(k_sample, logits)                # s_i ~ p(. | masked input)
    sampled = jnp.where(unk, sampled, cur)
    log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), sampled[..., None], -1)[..., 0]
    ratio = (t + 1) / num_iter
    noise = jax.random.gumbel(k_choice, log_p.shape)
    confidence = log_p + choice_temperature * (1.0 - ratio) * noise   # c = log p + tau (1-r) g
    confidence = jnp.where(unk, confidence, jnp.inf)
    n_mask = num_to_mask(n0, jnp.sum(unk, -1), t, num_iter, schedule)
    rank = jnp.argsort(jnp.argsort(confidence, axis=-1), axis=-1)    # 0 = least confident
    new_unk = rank < n_mask[:, None]
    history = history.at[t].set(jnp.where(new_unk, mask_id, sampled))
    return sampled, new_unk, key, history

  history = jnp.zeros((num_iter,) + tokens.shape, jnp.int32)
  out, _, _, history = jax.lax.fori_loop(0, num_iter, body, (tokens, unknown, rng, history))
  return out, history
