"""A directory of images (png, jpg, jpeg, bmp, gif, webp) as a random-access source.

Split: `path/<split>/` when that folder exists; otherwise, when `path` has no split folders
(train, test, validation, val), the whole `path` is the 'train' split; any other split is an
error, so evaluation never silently reuses training images (set data.eval_split='train' to
do it on purpose). Within the split folder, either every image lies in one subfolder per
class (class names sorted -> label ids 0..K-1, images found recursively inside each) or all
images lie at the top (then no 'label' key, num_classes 0).
Images are read with PIL on access, center-cropped to a square and resized to image_size.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from lib.data.preprocess import prepare_image
from lib.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SPLIT_NAMES = ("train", "test", "validation", "val")


def _is_image(name: str) -> bool:
  return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _images_under(folder: str) -> list[str]:
  out = []
  for root, dirs, files in os.walk(folder):
    dirs.sort()
    out += [os.path.join(root, f) for f in sorted(files) if _is_image(f)]
  return out


def split_folder(path: str, split: str) -> str:
  """The folder that holds `split` under `path` (see the module docstring)."""
  if not path:
    raise ValueError("the folder source needs data.path: a directory of images")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"folder source: data.path {path!r} does not exist or is not a "
                            f"directory")
  candidate = os.path.join(path, split)
  if os.path.isdir(candidate):
    return candidate
  has_splits = [s for s in SPLIT_NAMES if os.path.isdir(os.path.join(path, s))]
  if split == "train" and not has_splits:
    return path
  raise FileNotFoundError(
      f"folder source: no {split!r} subfolder in {path!r}"
      + (f" (it has split folders {has_splits})" if has_splits else "")
      + f"; give split subfolders ({path}/train, {path}/{split}) or set data.eval_split="
      f"'train' to evaluate on the training images")


def list_images(folder: str) -> tuple[list[str], list[int], list[str]]:
  """(files, labels, class_names) of a split folder; labels empty when it has no classes."""
  entries = sorted(os.listdir(folder))
  top = [os.path.join(folder, e) for e in entries
         if _is_image(e) and os.path.isfile(os.path.join(folder, e))]
  classes = [e for e in entries if os.path.isdir(os.path.join(folder, e))
             and not e.startswith(".") and _images_under(os.path.join(folder, e))]
  if top and classes:
    raise ValueError(f"folder source: {folder!r} holds images both at its top and in "
                     f"subfolders {classes}; put all of them in class subfolders or all at "
                     f"the top")
  if top:
    return top, [], []
  files, labels = [], []
  for k, name in enumerate(classes):
    found = _images_under(os.path.join(folder, name))
    files += found
    labels += [k] * len(found)
  if not files:
    raise FileNotFoundError(f"folder source: no images ({', '.join(IMAGE_EXTENSIONS)}) in "
                            f"{folder!r} or its subfolders")
  return files, labels, classes


class FolderSource:
  """Random-access source: {'image': float32 [S, S, C] in [-1, 1], 'label': int32 if the
  folder has class subfolders}."""

  def __init__(self, path: str, split: str = "train", image_size: int = 32, channels: int = 3):
    if not image_size:
      raise ValueError("the folder source needs data.image_size (images are batched)")
    if channels not in (1, 3):
      raise ValueError(f"folder: channels must be 1 or 3, got {channels}")
    self.path, self.split = path, split
    self.image_size, self.channels = int(image_size), int(channels)
    self.folder = split_folder(path, split)
    self.files, self._labels, self.class_names = list_images(self.folder)
    self.num_classes = len(self.class_names)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, i: int) -> dict:
    try:
      with Image.open(self.files[i]) as im:
        pixels = np.asarray(im.convert("RGB" if self.channels == 3 else "L"))
    except (OSError, ValueError, SyntaxError) as e:  # PIL: truncated, not an image, bad header
      raise DataError(f"image {self.files[i]} could not be read ({type(e).__name__}: {e}); "
                      f"replace or remove that file from {self.folder}") from e
    out = {"image": prepare_image(pixels, self.image_size, None)}
    if self._labels:
      out["label"] = np.int32(self._labels[i])
    return out

  def __repr__(self) -> str:
    return f"FolderSource({self.folder!r}, {len(self)} images, {self.num_classes} classes)"
