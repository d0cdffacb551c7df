"""The frozen feature network F of Projected GAN, built from one of the project's domain
classifiers (a ViT in lib/metrics/weights/<name>.npz + <name>.json), and its multi-scale
feature pyramid.

Deviation from the official code (pg_modules/projector.py `_make_projector`: timm's
ImageNet-pretrained `tf_efficientnet_lite0`, four stages at 1/4, 1/8, 1/16 and 1/32 of a
224 px input): this project runs offline and holds no pretrained CNN, only the ViTs it trained
itself on its embedded datasets. A ViT has one token resolution (patch 8 at 32 px: 4x4
tokens), so the four scales are made ViTDet-style (Li et al. 2022, "Exploring Plain Vision
Transformer Backbones", simple feature pyramid) with *fixed* resampling instead of ViTDet's
learned deconvolutions, one block per scale so that the depth grows as the resolution falls,
as in a CNN backbone:

  scale i  <-  tokens after block `blocks[i]`, final LayerNorm applied (as timm's
               get_intermediate_layers(norm=True)), [class] token dropped, as a t x t map,
               resized by pyramid_scales[i]: x4 and x2 bilinear (half-pixel centres, torch's
               F.interpolate(align_corners=False)), x1 identity, x1/2 a 2x2 max pool (ViTDet)

With the 4-block digits ViT: block 1 -> 16x16, block 2 -> 8x8, block 3 -> 4x4, block 4 ->
2x2, 64 channels each (EfficientNet-lite0: 24, 40, 112, 320 channels).

The parameters are never trained: the discriminator keeps them in its non-trainable
collection 'frozen' (not 'params', so no optimizer sees them); gradients still flow through
the network to the images, which is how G is trained.

Input normalisation is the classifier's own: it was trained on the data pipeline's images in
[-1, 1] (lib/metrics/domain_classifier.py: the extractor maps its [0, 1] inputs to [-1, 1]
before the ViT), which is also G's output range, so images enter unchanged after DiffAugment;
they are resized bilinearly to the classifier's input size (the official D resizes to 224,
`interp224`) and grey images are tiled to 3 channels for a 3-channel classifier.
"""
from __future__ import annotations

import functools
import glob
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError, UserError
from lib.metrics.domain_classifier import WEIGHTS_DIR, MissingWeightsError
from lib.metrics.extractor import resize_bilinear, weights_sha256
from lib.train.nested_dict import unflatten

FROZEN = "frozen"            # the non-trainable variable collection of the discriminator
VIT = "research.vit.model.ViT"


class MissingFeatureNetworkError(MissingWeightsError, UserError):
  """The domain classifier named as Projected GAN's feature network is not on disk."""


@functools.lru_cache(maxsize=8)
def load_feature_network(name: str, weights_dir: str = "") -> tuple[dict, dict, dict]:
  """(ViT kwargs, params as numpy, card) of the domain classifier `name`; the weights are
  checked against the SHA-256 recorded in its card."""
  weights_dir = weights_dir or WEIGHTS_DIR
  npz, card_path = (os.path.join(weights_dir, f"{name}{ext}") for ext in (".npz", ".json"))
  if not (os.path.exists(npz) and os.path.exists(card_path)):
    have = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(weights_dir, "*.npz"))
                  if os.path.exists(p[:-4] + ".json"))
    dataset = name.split("_", 1)[-1]
    raise MissingFeatureNetworkError(
        f"config.discriminator.feature_network={name!r}: Projected GAN's feature network is "
        f"a domain classifier, and {npz} (with its .json card) does not exist. Fix: set "
        f"--config.discriminator.feature_network to one of {have} (in {weights_dir}), or make "
        f"it first with `python -m lib.metrics.domain_classifier --dataset {dataset}` "
        "(datasets: digits, shapes, digits_thick).")
  with open(card_path) as f:
    card = json.load(f)
  with np.load(npz) as z:
    params = unflatten({k: np.asarray(z[k], np.float32) for k in z.files})
  sha = weights_sha256(params)
  if sha != card["sha256"]:
    raise ConfigError(f"{npz}: SHA-256 {sha} differs from the recorded {card['sha256']} "
                      f"(config.discriminator.feature_network={name!r}); the file was "
                      f"changed. Re-create it with: {card['command']}")
  model = dict(card["model"])
  if model.pop("name", VIT) != VIT:
    raise ConfigError(f"config.discriminator.feature_network={name!r}: {card_path} is a "
                      f"{card['model'].get('name')}, Projected GAN here reads ViT classifiers "
                      f"({VIT}) only")
  if model.get("scan_layers") or model.get("distillation"):
    raise ConfigError(f"config.discriminator.feature_network={name!r}: a ViT with "
                      "scan_layers or distillation is not supported as the feature network")
  return model, params, card


def default_blocks(depth: int, n: int = 4) -> tuple[int, ...]:
  """n block indices spread evenly over `depth` blocks, the last one last: depth 4 -> 0..3."""
  return tuple(sorted({max(round((k + 1) * depth / n) - 1, 0) for k in range(n)}))


def resample(x, scale: float):
  """A [B, h, w, C] map resized by `scale`: bilinear up (x2, x4, ...), identity, or max
  pooling down (x1/2, x1/4: ViTDet's stride-2 max pool for its coarsest level)."""
  if scale == 1:
    return x
  b, h, w, c = x.shape
  if scale > 1:
    return jax.image.resize(x, (b, int(h * scale), int(w * scale), c), "bilinear",
                            antialias=False)
  k = int(round(1 / scale))
  if k * scale != 1 or h % k or w % k:
    raise ConfigError(f"pyramid scale {scale}: a down-scale must be 1/k with k dividing the "
                      f"token map {h}x{w}")
  return nn.max_pool(x, (k, k), strides=(k, k))


class FeatureNetwork(nn.Module):
  """F: images [B, H, W, C] in [-1, 1] -> the pyramid, a list of [B, r_i, r_i, D] maps."""
  name_or_key: str = "vit_digits"     # a domain classifier in lib/metrics/weights
  weights_dir: str = ""
  blocks: tuple[int, ...] = ()        # () = spread over the depth (digits ViT: 0, 1, 2, 3)
  pyramid_scales: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)
  dtype: Any = jnp.float32

  def spec(self):
    kwargs, params, card = load_feature_network(self.name_or_key, self.weights_dir)
    blocks = tuple(self.blocks) or default_blocks(kwargs["depth"], len(self.pyramid_scales))
    if len(blocks) != len(self.pyramid_scales) or max(blocks) >= kwargs["depth"]:
      raise ConfigError(f"config.discriminator.blocks={blocks}: give one block index per "
                        f"pyramid scale {tuple(self.pyramid_scales)}, each < depth "
                        f"{kwargs['depth']} of {self.name_or_key}")
    return kwargs, params, card, blocks

  @nn.compact
  def __call__(self, images):
    from research.vit.model import ViT
    kwargs, params, card, blocks = self.spec()
    vit_params = self.variable(FROZEN, "vit", lambda: jax.tree.map(jnp.asarray, params)).value
    size, channels = card["data"]["image_size"], card["data"]["channels"]
    x = images.astype(jnp.float32)
    if x.shape[-1] != channels:
      if x.shape[-1] != 1:
        raise ConfigError(f"config.discriminator.feature_network={self.name_or_key!r} reads "
                          f"{channels}-channel images, the data has {x.shape[-1]}: name a "
                          "classifier of this data's channels (e.g. vit_shapes for RGB)")
      x = jnp.repeat(x, channels, axis=-1)
    x = resize_bilinear(x, (size, size))                    # official: interp224 (bilinear)
    vit = ViT(**kwargs, dtype=self.dtype, parent=None)       # applied, not a child
    wanted = {f"block_{i}" for i in blocks}
    _, inter = vit.apply(
        {"params": vit_params}, x.astype(self.dtype), features_only=True, mutable=["intermediates"],
        capture_intermediates=lambda m, method: method == "__call__" and m.name in wanted)
    norm = nn.LayerNorm(dtype=self.dtype, parent=None)      # the ViT's final LayerNorm
    t = size // kwargs["patch_size"]
    maps = []
    for i, scale in zip(blocks, self.pyramid_scales):
      tokens = inter["intermediates"][f"block_{i}"]["__call__"][0]
      tokens = norm.apply({"params": vit_params["encoder_norm"]}, tokens)[:, 1:]
      maps.append(resample(tokens.reshape(tokens.shape[0], t, t, -1), scale))
    return maps
