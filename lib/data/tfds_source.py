"""A TFDS dataset read by random access through `tfds.data_source` (no TensorFlow needed).

The dataset must already be prepared in the array_record format in `data_dir`; preparing it
needs TensorFlow, an optional extra used once, possibly on another machine:

  pip install tensorflow tensorflow-datasets
  tfds build NAME --data_dir DIR --file_format=array_record

Nothing is downloaded at run time. Images become float32 [-1, 1], center-cropped to a square
and resized when `image_size` is given; 'label' is kept (int32) when the dataset has one.
"""
from __future__ import annotations

import numpy as np

from lib.data.preprocess import prepare_image


class DatasetNotPreparedError(FileNotFoundError):
  """A TFDS dataset is not prepared (in array_record format) in the data_dir."""


def prepare_hint(name: str, data_dir: str | None) -> str:
  where = data_dir or "~/tensorflow_datasets"
  return (f"prepare it once on a machine with TensorFlow (optional extra): "
          f"`pip install tensorflow tensorflow-datasets && tfds build {name} --data_dir {where} "
          f"--file_format=array_record` (built elsewhere: copy its {name}/ folder into {where})")


def open_data_source(name: str, split: str, data_dir: str | None):
  """tfds.data_source(name, split=split, data_dir=data_dir) without downloading; a clear
  DatasetNotPreparedError when the dataset is not prepared there."""
  import tensorflow_datasets as tfds
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f"tfds knows no dataset named {name!r} (data.name)") from e
  except (NotImplementedError, FileNotFoundError, AssertionError, OSError) as e:
    raise DatasetNotPreparedError(
        f"tfds dataset {name!r} (split {split!r}) is not prepared in the array_record format "
        f"in data_dir {data_dir or '~/tensorflow_datasets'!r}; {prepare_hint(name, data_dir)}. "
        f"(tfds said: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e


class TfdsSource:
  """Random-access source: {'image': float32 [S, S, C] in [-1, 1], 'label': int32 if any}."""

  def __init__(self, name: str, split: str = "train", data_dir: str | None = None,
               image_size: int | None = None, channels: int | None = None,
               image_key: str = "image", label_key: str = "label"):
    if not name:
      raise ValueError("the tfds source needs data.name (e.g. 'mnist', 'cifar10')")
    self.name, self.split, self.data_dir = name, split, data_dir
    self.image_size, self.channels = image_size or None, channels or None
    self.image_key, self.label_key = image_key, label_key
    self._source = open_data_source(name, split, data_dir)
    features = self._source.dataset_info.features
    if image_key not in features:
      raise ValueError(f"tfds dataset {name!r} has no feature {image_key!r}; it has "
                       f"{sorted(features.keys())}")
    self._has_label = label_key in features
    label = features[label_key] if self._has_label else None
    self.num_classes = int(getattr(label, "num_classes", 0) or 0)
    h, w, c = features[image_key].shape
    self.image_shape = (self.image_size or h, self.image_size or w, self.channels or c)

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, i: int) -> dict:
    record = self._source[int(i)]
    out = {"image": prepare_image(record[self.image_key], self.image_size, self.channels)}
    if self._has_label:
      out["label"] = np.int32(record[self.label_key])
    return out

  def __repr__(self) -> str:
    return f"TfdsSource({self.name!r}, split={self.split!r}, data_dir={self.data_dir!r})"
