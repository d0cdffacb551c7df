"""The ring of 8 Gaussians (Metz et al. 2017, Unrolled GANs, Sec. 3.1; R3GAN, Huang et al.
2024, Sec. 3): one place for its geometry, its sampler and its mode-coverage metric, shared by
benchmarks/gan_rings.py, the `rings` data source and the `ring_modes` evaluator.

Geometry: NUM_MODES = 8 centres at angles 2 pi k / 8 on a circle of RADIUS 2, each an
isotropic Gaussian of STD 0.05. A point is an 'image' float32 [1, 1, 2] (not in [-1, 1]: the
ring has radius 2); 'label' is the index of its mode.

RingsSource: a split is `length` points drawn offline, at construction, from
np.random.default_rng((seed, split stream)): example i depends only on (seed, split, i), so a
seed gives the same points on every machine and every call.
"""
from __future__ import annotations

import functools

import numpy as np

NUM_MODES, RADIUS, STD = 8, 2.0, 0.05
SPLIT_STREAMS = {"train": 0, "test": 1, "validation": 2}
DEFAULT_LENGTH = {"train": 1 << 20}   # other splits: 2000
MODE_FRACTION, MODE_RADIUS_STDS = 0.01, 3.0


def ring_centers() -> np.ndarray:
  """[8, 2] float64: RADIUS (cos 2 pi k / 8, sin 2 pi k / 8)."""
  a = 2 * np.pi * np.arange(NUM_MODES) / NUM_MODES
  return RADIUS * np.stack([np.cos(a), np.sin(a)], -1)


def sample_ring(rng, n: int):
  """n points [n, 2] of the ring with a JAX key (the benchmark's in-graph sampler)."""
  import jax
  import jax.numpy as jnp
  kc, kn = jax.random.split(rng)
  idx = jax.random.randint(kc, (n,), 0, NUM_MODES)
  return jnp.asarray(ring_centers(), jnp.float32)[idx] + STD * jax.random.normal(kn, (n, 2))


def mode_coverage(points) -> dict:
  """modes: centres with >= 1% of the points within 3 STD; high_quality: the fraction of points
  within 3 STD of any centre (Metz et al. 2017, Sec. 3.1)."""
  points = np.asarray(points, np.float64).reshape(-1, 2)
  d = np.linalg.norm(points[:, None, :] - ring_centers()[None], axis=-1)        # [N, 8]
  near = d < MODE_RADIUS_STDS * STD
  counts = near.sum(0)
  return {"modes": int((counts >= MODE_FRACTION * len(points)).sum()),
          "high_quality": float(near.any(1).mean())}


@functools.lru_cache(maxsize=8)
def _draw(seed: int, split: str, length: int) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng((int(seed), SPLIT_STREAMS[split]))
  labels = rng.integers(0, NUM_MODES, length).astype(np.int32)
  points = ring_centers()[labels] + STD * rng.standard_normal((length, 2))
  return points.astype(np.float32).reshape(length, 1, 1, 2), labels


class RingsSource:
  """Random-access points of the ring: {'image': float32 [1, 1, 2], 'label': int32 mode}."""
  num_classes = NUM_MODES
  image_shape = (1, 1, 2)

  def __init__(self, split: str = "train", length: int | None = None, seed: int = 0):
    if split not in SPLIT_STREAMS:
      raise ValueError(f"rings has splits {sorted(SPLIT_STREAMS)}, not {split!r}")
    length = DEFAULT_LENGTH.get(split, 2000) if length is None else int(length)
    if length < 1:
      raise ValueError(f"rings split {split!r}: length must be >= 1, got {length}")
    self.split, self.seed = split, int(seed)
    self._points, self._labels = _draw(self.seed, split, length)
    self._points.flags.writeable = False

  def __len__(self) -> int:
    return len(self._labels)

  def __getitem__(self, i: int) -> dict:
    return {"image": self._points[i], "label": self._labels[i]}
