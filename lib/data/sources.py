"""Builds a source from `config.data` and answers what the rest of the code asks about it.

Keys read (missing or empty ones take the default in brackets):
  source       'digits' | 'shapes' | 'tfds' | 'folder' | 'rings' (and the sequence sources)
  image_size   side of the square images [32; tfds: native size when 0]
  channels     1 or 3 [digits 1, shapes 3, folder 3, tfds native]
  shapes:      num_train [10000], num_test [1000] (also the length of other splits),
               max_objects [3], shapes_seed [0] (the dataset itself, not the loader order)
  tfds:        name, data_dir [~/tensorflow_datasets], image_key ['image'], label_key ['label']
  folder:      path (see folder.py for the layout)
  domain_pair: pair (digits_edges | digits_thick | shapes_palette | folder), paired [True],
               pair_seed [0], thick_radius [2], edge_radius [1], path (folder), num_<split>
               (shapes_palette): two-domain examples for translation (domain_pairs.py);
               view ['' | 'a' | 'b']: one domain as a labelled classification set
  rings:       num_<split> [train 2^20, others 2000], rings_seed [0]: points of the ring of 8
               Gaussians as [1, 1, 2] 'images' (rings.py; not in [-1, 1]), label = mode
Every source gives dicts of numpy arrays: 'image' float32 [H, W, C] in [-1, 1] and, when it
has labels, 'label' int32; shapes adds 'num_objects', 'masks' and 'labels_multi'.
"""
from __future__ import annotations

from typing import Any, Protocol

from lib.data.digits import DigitsSource
from lib.data.folder import FolderSource
from lib.data.rings import DEFAULT_LENGTH as RINGS_LENGTH
from lib.data.rings import RingsSource
from lib.data.shapes import ShapesSource
from lib.data.tfds_source import TfdsSource

SOURCES = ("digits", "shapes", "tfds", "folder", "listops", "pathfinder", "digit_pixels",
           "rings", "domain_pair")


class Source(Protocol):
  num_classes: int
  image_shape: tuple[int, int, int]

  def __len__(self) -> int: ...
  def __getitem__(self, i: int) -> dict: ...


def config_value(data_config: Any, key: str, default: Any = None) -> Any:
  """data_config[key], or `default` when the key is missing, None or ''."""
  value = data_config.get(key, None) if hasattr(data_config, "get") else None
  return default if value is None or value == "" else value


def make_source(data_config: Any, split: str) -> Source:
  """The random-access source of `split` that `data_config` describes."""
  kind = config_value(data_config, "source", "")
  size = int(config_value(data_config, "image_size", 0))
  channels = int(config_value(data_config, "channels", 0))
  if kind == "digits":
    return DigitsSource(split, image_size=size or 32, channels=channels or 1)
  if kind == "shapes":
    default = 10000 if split == "train" else config_value(data_config, "num_test", 1000)
    length = config_value(data_config, f"num_{split}", default)
    return ShapesSource(split, length=int(length), image_size=size or 32,
                        max_objects=int(config_value(data_config, "max_objects", 3)),
                        channels=channels or 3,
                        seed=int(config_value(data_config, "shapes_seed", 0)))
  if kind == "tfds":
    return TfdsSource(config_value(data_config, "name", ""), split,
                      data_dir=config_value(data_config, "data_dir", None),
                      image_size=size or None, channels=channels or None,
                      image_key=config_value(data_config, "image_key", "image"),
                      label_key=config_value(data_config, "label_key", "label"))
  if kind == "folder":
    return FolderSource(config_value(data_config, "path", ""), split, image_size=size or 32,
                        channels=channels or 3)
  if kind == "rings":
    length = config_value(data_config, f"num_{split}", RINGS_LENGTH.get(split, 2000))
    return RingsSource(split, length=int(length),
                       seed=int(config_value(data_config, "rings_seed", 0)))
  if kind == "domain_pair":
    from lib.data.domain_pairs import DomainPairSource
    length = config_value(data_config, f"num_{split}", 0)
    return DomainPairSource(str(config_value(data_config, "pair", "")), split,
                            image_size=size or 32, channels=channels,
                            paired=bool(config_value(data_config, "paired", True)),
                            seed=int(config_value(data_config, "pair_seed", 0)),
                            thick_radius=int(config_value(data_config, "thick_radius", 2)),
                            edge_radius=int(config_value(data_config, "edge_radius", 1)),
                            path=str(config_value(data_config, "path", "")), length=int(length),
                            view=str(config_value(data_config, "view", "")))
  if kind in ("listops", "pathfinder", "digit_pixels"):   # sequence tasks (lib/studies)
    return _sequence_source(kind, data_config, split, size)
  raise ValueError(f"data.source is {kind!r}; known sources: {SOURCES}")


def _sequence_source(kind: str, data_config: Any, split: str, size: int):
  """listops: num_<split>, max_len [128], max_depth [10], seq_seed [0]; pathfinder:
  image_size [16], num_<split>, distractors [2], seq_seed [0]; digit_pixels: image_size [8]."""
  from lib.data.listops import ListOpsSource
  from lib.data.pathfinder import PathfinderSource
  from lib.data.pixel_sequences import PixelSequenceSource
  if kind == "digit_pixels":
    return PixelSequenceSource(split, image_size=size or 8)
  length = int(config_value(data_config, f"num_{split}", 10000 if split == "train" else 1000))
  seed = int(config_value(data_config, "seq_seed", 0))
  if kind == "listops":
    return ListOpsSource(split, length=length,
                         max_len=int(config_value(data_config, "max_len", 128)),
                         max_depth=int(config_value(data_config, "max_depth", 10)), seed=seed)
  return PathfinderSource(split, length=length, image_size=size or 16,
                          distractors=int(config_value(data_config, "distractors", 2)), seed=seed)


def num_classes(data_config: Any, split: str = "train") -> int:
  """Number of label classes (0 when the source has no labels)."""
  return int(make_source(data_config, split).num_classes)


def image_shape(data_config: Any, split: str = "train") -> tuple[int, int, int]:
  """(H, W, C) of one example's image."""
  return tuple(int(d) for d in make_source(data_config, split)[0]["image"].shape)


def num_examples(data_config: Any, split: str) -> int:
  """Number of examples in `split`."""
  return len(make_source(data_config, split))
