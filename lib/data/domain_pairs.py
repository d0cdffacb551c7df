"""Two-domain datasets for image-to-image translation (issue 16), embedded, seeded, offline.

Every example is {'image': domain A, 'target': domain B, 'label': A's class, 'target_label':
B's class, 'foreground': A's object mask [H, W, 1] (1 on ink / objects)}; images float32 in
[-1, 1]. In the *paired* form 'target' is A's own counterpart; in the *unpaired* form it is
the counterpart of another example, drawn by a seeded permutation of the split (the pairing
the model never sees, as in CycleGAN's unaligned datasets). Pairs (`data.pair`):

  digits_edges    A = edge map of a digit (morphological gradient of its ink: dilation minus
                  erosion, pix2pix's edges -> image setting), B = the digit
  digits_thick    A = the digit, B = the same digit with thicker strokes (grey dilation by a
                  disk of radius `thick_radius` px at 32 px)
  shapes_palette  A = a shapes scene, B = the same layout with another palette and a striped
                  texture on the objects (light background, hues rotated by 1/2)
  folder          CycleGAN's layout under data.path: trainA/, trainB/ (testA/, testB/ for
                  the test split), read with lib/data/folder.py; paired by sorted file name
                  (the two folders must hold as many images), no labels (-1)

`view='a'` or `'b'` (`data.view`) gives one domain as a labelled classification set instead,
{'image': that domain's image, 'label': its class}: what the per-domain label classifiers of
the translation evaluators are trained on (lib/metrics/domain_classifier.py).
"""
from __future__ import annotations

import functools
import os

import numpy as np

from lib.data.digits import DigitsSource
from lib.data.folder import FolderSource
from lib.data.shapes import ShapesSource
from lib.errors import DataError

PAIRS = ("digits_edges", "digits_thick", "shapes_palette", "folder")
INK_THRESHOLD = 0.0          # a digit pixel (in [-1, 1]) above this is ink


def _disk(radius: int) -> np.ndarray:
  r = np.arange(-radius, radius + 1)
  return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius + 0.5


def grey_dilation(image: np.ndarray, radius: int) -> np.ndarray:
  """max over a disk of `radius` px around each pixel (edge-padded), per channel."""
  if radius <= 0:
    return image.copy()
  h, w = image.shape[:2]
  padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
  out = np.full_like(image, -np.inf)
  for dy, dx in zip(*np.nonzero(_disk(radius))):
    out = np.maximum(out, padded[dy:dy + h, dx:dx + w])
  return out


def grey_erosion(image: np.ndarray, radius: int) -> np.ndarray:
  return -grey_dilation(-image, radius)


def edge_map(digit: np.ndarray, radius: int = 1) -> np.ndarray:
  """White edges on black: morphological gradient (dilation - erosion) of the binary ink."""
  ink = (digit > INK_THRESHOLD).astype(np.float32)
  gradient = grey_dilation(ink, radius) - grey_erosion(ink, radius)       # in {0, 1}
  return gradient * 2.0 - 1.0


def repaint_scene(scene: dict, image_size: int) -> np.ndarray:
  """The same layout as `scene` (a shapes example) in the B palette: background light grey,
  each object's color hue-rotated by 1/2 and darkened along diagonal stripes."""
  image = (scene["image"] + 1.0) / 2.0                       # [0, 1]
  masks = scene["masks"]
  out = np.full_like(image, 0.85)
  yy, xx = np.mgrid[:image_size, :image_size]
  stripes = 0.75 + 0.25 * (((xx + yy) // max(image_size // 8, 1)) % 2)
  for k in range(1, masks.shape[0]):
    m = masks[k] > 0.5
    if not m.any():
      continue
    color = image[m][0]
    rotated = np.roll(color, 1) * 0.6 + (1.0 - color) * 0.4   # a different hue and lightness
    out[m] = rotated[None, :] * stripes[m][:, None]
  return (out * 2.0 - 1.0).astype(np.float32)


class DomainPairSource:
  """Random-access source of (A, B) examples; see the module docstring."""

  def __init__(self, pair: str, split: str = "train", image_size: int = 32, channels: int = 0,
               paired: bool = True, seed: int = 0, thick_radius: int = 2, edge_radius: int = 1,
               path: str = "", length: int = 0, view: str = ""):
    if pair not in PAIRS:
      raise ValueError(f"data.pair={pair!r}: use one of {PAIRS}")
    if view not in ("", "a", "b"):
      raise ValueError(f"data.view={view!r}: use '' (the pair), 'a' or 'b' (one domain)")
    self.view = view
    self.pair, self.split, self.image_size = pair, split, int(image_size)
    self.paired, self.seed = bool(paired), int(seed)
    self.thick_radius, self.edge_radius = int(thick_radius), int(edge_radius)
    scale = max(self.image_size // 32, 1)
    self._thick = self.thick_radius * scale
    self._edge = self.edge_radius * scale
    if pair.startswith("digits"):
      self._a = DigitsSource(split, image_size=self.image_size, channels=1)
      self._b = self._a
      self.num_classes = 10
      self.channels = channels or 1
    elif pair == "shapes_palette":
      self._a = ShapesSource(split, length=int(length) or (10000 if split == "train" else 1000),
                             image_size=self.image_size, channels=3, seed=self.seed)
      self._b = self._a
      self.num_classes = 3
      self.channels = channels or 3
    else:
      self.channels = channels or 3
      self._a, self._b = (FolderSource(folder_of(path, split, d), "train",
                                       image_size=self.image_size, channels=self.channels)
                          for d in "AB")
      if self.paired and len(self._a) != len(self._b):
        raise DataError(f"paired folder data: {self._a.folder} holds {len(self._a)} images and "
                        f"{self._b.folder} {len(self._b)}; pair them one to one (same sorted "
                        f"names) or set data.paired=False")
      self.num_classes = 0
    self._partner = self._permutation()

  def _permutation(self) -> np.ndarray:
    n_b = len(self._b)
    if self.paired:
      return np.arange(len(self))
    rng = np.random.default_rng([self.seed, 7, len(self), n_b])
    perm = rng.permutation(n_b)
    return perm[np.arange(len(self)) % n_b]

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)

  def __len__(self) -> int:
    return len(self._a)

  def _domain_a(self, ex: dict) -> np.ndarray:
    if self.pair == "digits_edges":
      return edge_map(ex["image"], self._edge)
    return ex["image"]

  def _domain_b(self, ex: dict) -> np.ndarray:
    if self.pair == "digits_thick":
      return grey_dilation(ex["image"], self._thick)
    if self.pair == "shapes_palette":
      return repaint_scene(ex, self.image_size)
    return ex["image"]

  def _foreground(self, ex: dict) -> np.ndarray:
    if self.pair == "shapes_palette":
      return (1.0 - ex["masks"][0])[..., None].astype(np.float32)
    if self.pair.startswith("digits"):
      return (ex["image"] > INK_THRESHOLD).astype(np.float32)
    return np.ones(ex["image"].shape[:2] + (1,), np.float32)

  def __getitem__(self, i: int) -> dict:
    if not 0 <= i < len(self):
      raise IndexError(f"domain pair {self.pair} {self.split}: index {i} out of range")
    ea = self._a[i]
    eb = ea if self.paired else self._b[int(self._partner[i])]
    a, b = self._domain_a(ea), self._domain_b(eb)
    if self.pair.startswith("digits") and self.channels == 3:
      a, b = np.repeat(a, 3, -1), np.repeat(b, 3, -1)
    if self.view:                        # one domain as a classification set
      image, ex = (a, ea) if self.view == "a" else (b, eb)
      return {"image": image.astype(np.float32), "label": np.int32(ex.get("label", -1))}
    return {"image": a.astype(np.float32), "target": b.astype(np.float32),
            "label": np.int32(ea.get("label", -1)), "target_label": np.int32(eb.get("label", -1)),
            "foreground": self._foreground(ea)}

  def __repr__(self) -> str:
    return (f"DomainPairSource({self.pair!r}, split={self.split!r}, "
            f"{'paired' if self.paired else 'unpaired'}, image_size={self.image_size})")


def folder_of(path: str, split: str, domain: str) -> str:
  """path/<split>A or path/<split>B (CycleGAN's trainA, trainB, testA, testB)."""
  if not path:
    raise DataError("data.pair='folder' needs data.path: a folder holding trainA/ and trainB/")
  name = {"validation": "val"}.get(split, split) + domain
  folder = os.path.join(path, name)
  if not os.path.isdir(folder):
    have = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))) \
        if os.path.isdir(path) else []
    raise DataError(f"translation folder data: {folder!r} does not exist (data.path={path!r} "
                    f"holds {have or 'nothing'}); give the CycleGAN layout trainA/, trainB/ "
                    f"(and testA/, testB/ for evaluation)")
  return folder


@functools.lru_cache(maxsize=8)
def cached_source(pair, split, image_size, channels, paired, seed, thick_radius, edge_radius,
                  path, length, view=""):
  return DomainPairSource(pair, split, image_size, channels, paired, seed, thick_radius,
                          edge_radius, path, length, view)
