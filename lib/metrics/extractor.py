"""The feature-extractor interface shared by every generator metric, and batched extraction.

An extractor maps images (NHWC, float in [0, 1] or uint8 in [0, 255]) to features [N, D] and,
when it is a classifier, to logits [N, C]. It carries what a result must record to be
comparable (Lucic et al. 2018; Kynkaanniemi et al. 2023): its name, the SHA-256 of its
weights and the size images are resized to. Resizing is bilinear with half-pixel centres and
no antialiasing, i.e. torch's F.interpolate(mode="bilinear", align_corners=False) that
pytorch-fid uses (not PIL's antialiased resize that clean-fid recommends; see Parmar et al.
2022 for the effect of this choice).
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from lib.metrics.frechet import RunningStats


def weights_sha256(params) -> str:
  """SHA-256 over a params pytree's leaves in path order (name, dtype, shape, bytes); equal
  for equal weights whatever file format or zip timestamps hold them."""
  h = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.hexdigest()


def to_unit_range(images) -> jax.Array:
  """uint8 -> float32 / 255; floats are taken as already in [0, 1]."""
  images = jnp.asarray(images)
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32) / 255.0
  return images.astype(jnp.float32)


def signed_to_unit(images) -> np.ndarray:
  """Model images in [-1, 1] (the data pipeline's and the generators' range) -> [0, 1]."""
  return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def resize_bilinear(images, size: tuple[int, int]) -> jax.Array:
  """NHWC bilinear resize, half-pixel centres, no antialias (= torch align_corners=False)."""
  n, h, w, c = images.shape
  if (h, w) == tuple(size):
    return images
  return jax.image.resize(images, (n, *size, c), method="bilinear", antialias=False)


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureExtractor:
  """A frozen network used as a metric's feature space.

  features_fn(params, x) / logits_fn(params, x) take `params` and images already in [0, 1],
  resized and with `channels` channels, and return [N, D] / [N, C]. They are jitted here with
  params as an argument (not baked into the program as constants).
  """
  name: str
  sha256: str
  features_fn: Callable[[Any, jax.Array], jax.Array]
  logits_fn: Callable[[Any, jax.Array], jax.Array] | None = None
  params: Any = None
  input_size: tuple[int, int] | None = None  # (H, W) images are resized to; None keeps size
  channels: int | None = None  # 3 tiles grayscale to RGB; None keeps the channels
  extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # e.g. accuracy

  def __post_init__(self):
    object.__setattr__(self, "_features",
                       jax.jit(lambda p, x: self.features_fn(p, self.preprocess(x))))
    if self.logits_fn is not None:
      object.__setattr__(self, "_logits",
                         jax.jit(lambda p, x: self.logits_fn(p, self.preprocess(x))))

  def preprocess(self, images) -> jax.Array:
    x = to_unit_range(images)
    if self.channels is not None and x.shape[-1] != self.channels:
      if x.shape[-1] != 1:
        raise ValueError(f"{self.name} takes {self.channels} channels, got {x.shape[-1]}")
      x = jnp.repeat(x, self.channels, axis=-1)
    if self.input_size is not None:
      x = resize_bilinear(x, self.input_size)
    return x

  def features(self, images) -> jax.Array:
    return self._features(self.params, images)

  def logits(self, images) -> jax.Array:
    if self.logits_fn is None:
      raise NotImplementedError(f"extractor {self.name} has no classifier head (logits)")
    return self._logits(self.params, images)

  def describe(self) -> dict[str, Any]:
    """What a metric result records about its feature space."""
    return {"extractor": self.name, "extractor_sha256": self.sha256,
            "resize": list(self.input_size) if self.input_size else None, **self.extra}


def _image_batches(images, image_key: str) -> Iterator[np.ndarray]:
  """Yields numpy image batches from an array [N, H, W, C], or an iterable of arrays or of
  dicts holding `image_key` (and optionally a boolean 'valid' mask, as eval batches do)."""
  if isinstance(images, (np.ndarray, jax.Array)):
    yield np.asarray(images)
    return
  for b in images:
    if isinstance(b, Mapping):
      x = np.asarray(b[image_key])
      if "valid" in b:
        x = x[np.asarray(b["valid"], bool)]
      yield x
    else:
      yield np.asarray(b)


def iterate_features(extractor: FeatureExtractor, images, batch_size: int = 200,
                     kind: str = "features", max_samples: int | None = None,
                     image_key: str = "image") -> Iterator[np.ndarray]:
  """Features (or logits, kind="logits") as float32 numpy chunks, computed in fixed batches of
  `batch_size` (the last one padded, so one compiled shape), stopping after max_samples."""
  fn = {"features": extractor.features, "logits": extractor.logits}[kind]
  pending, count = [], 0

  def run(chunk):
    n = len(chunk)
    if n < batch_size:
      chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), chunk.dtype)])
    return np.asarray(fn(chunk), np.float32)[:n]

  for x in _image_batches(images, image_key):
    if max_samples is not None:
      x = x[:max_samples - count]
    count += len(x)
    pending.append(x)
    buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
    while len(buf) >= batch_size:
      yield run(buf[:batch_size])
      buf = buf[batch_size:]
    pending = [buf] if len(buf) else []
    if max_samples is not None and count >= max_samples:
      break
  if pending:
    yield run(pending[0])


def compute_features(extractor: FeatureExtractor, images, batch_size: int = 200,
                     kind: str = "features", max_samples: int | None = None,
                     image_key: str = "image") -> np.ndarray:
  """All features (or logits) of `images` as one float32 array [N, D]."""
  chunks = list(iterate_features(extractor, images, batch_size, kind, max_samples, image_key))
  if not chunks:
    raise ValueError("no images were given")
  return np.concatenate(chunks)


def compute_stats(extractor: FeatureExtractor, images, batch_size: int = 200,
                  max_samples: int | None = None, image_key: str = "image", **meta):
  """Streams features into float64 Gaussian statistics (for FID), never holding them all;
  `meta` (e.g. reference="digits/test", seed=0) is recorded with the extractor's description."""
  stats = None
  for f in iterate_features(extractor, images, batch_size, "features", max_samples, image_key):
    if stats is None:
      stats = RunningStats(f.shape[1])
    stats.update(f)
  if stats is None:
    raise ValueError("no images were given")
  stats.meta.update({**extractor.describe(), "num_samples": stats.n, **meta})
  return stats
