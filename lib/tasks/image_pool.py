"""The image pool of past fakes (Shrivastava et al. 2017; CycleGAN Sec. 4, pool of 50), as
`ImagePool.query` in junyanz/pytorch-CycleGAN-and-pix2pix, as a pure function.

For each generated image in turn: while the pool holds fewer than `size` images, the image
is stored and returned; afterwards, with probability 1/2 a uniformly chosen stored image is
returned and replaced by the new one, else the new image is returned. size 0: no pool.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def empty_pool(size: int, image_shape) -> dict:
  return {"images": jnp.zeros((max(size, 1),) + tuple(image_shape), jnp.float32),
          "count": jnp.zeros((), jnp.int32)}


def query(pool: dict, images, rng, size: int):
  """(images for the discriminator [B, ...], new pool)."""
  if size == 0:
    return images, pool

  def one(carry, xs):
    stored, count = carry
    image, key = xs
    k_swap, k_idx = jax.random.split(key)
    filling = count < size
    swap = jax.random.uniform(k_swap) > 0.5
    idx = jnp.where(filling, count, jax.random.randint(k_idx, (), 0, size))
    old = stored[idx]
    out = jnp.where(filling | ~swap, image, old)
    write = filling | swap
    stored = stored.at[idx].set(jnp.where(write, image, old))
    return (stored, jnp.minimum(count + 1, size)), out

  keys = jax.random.split(rng, images.shape[0])
  (stored, count), out = jax.lax.scan(one, (pool["images"], pool["count"]),
                                      (images.astype(jnp.float32), keys))
  return out.astype(images.dtype), {"images": stored, "count": count}
