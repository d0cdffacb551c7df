"""Augmentation: each augmented example is a reflect-padded crop (maybe flipped) of its
source example, masks move with the pixels, and the draws are seeded per example."""
import ml_collections
import numpy as np

from lib.data.augment import augment_example
from lib.data.pipeline import make_iterator
from lib.data.sources import make_source

SHAPES = ml_collections.ConfigDict(dict(source="shapes", image_size=12, num_train=24,
                                        max_objects=3, crop_padding=2, prefetch=0))


def candidates(image: np.ndarray, pad: int):
  """Reference: every (dy, dx, flip) view of `image` [H, W, C]."""
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
  for dy in range(2 * pad + 1):
    for dx in range(2 * pad + 1):
      crop = padded[dy:dy + h, dx:dx + w]
      yield (dy, dx, False), crop
      yield (dy, dx, True), crop[:, ::-1]


def test_augmented_examples_are_crops_and_flips_of_the_source():
  source = make_source(SHAPES, "train")
  batch = next(make_iterator(SHAPES, "train", global_batch_size=24, seed=0, shuffle=False,
                             augment=True))
  views = []
  for i in range(24):
    original, out = source[i], batch["image"][i]
    matches = [v for v, c in candidates(original["image"], 2) if np.array_equal(c, out)]
    assert matches, f"example {i} is not a crop/flip of its source"
    views.append(matches[0])
    masks = batch["masks"][i]                    # moved with the pixels: still a partition
    np.testing.assert_array_equal(masks.sum(0), np.ones((12, 12)))
    for k in range(masks.shape[0]):
      px = out[masks[k] == 1]
      if len(px):
        np.testing.assert_array_equal(px, np.broadcast_to(px[0], px.shape))
    assert batch["label"][i] == original["label"]
  assert any(v[2] for v in views) and any(not v[2] for v in views)
  assert len({v[:2] for v in views}) > 3         # several crop offsets were drawn


def test_flip_off_and_seeded_draws():
  ex = {"image": np.arange(16, dtype=np.float32).reshape(4, 4, 1), "label": np.int32(3)}
  outs = [augment_example(ex, np.random.default_rng(s), flip=False, crop_padding=0)
          for s in range(5)]
  for o in outs:
    np.testing.assert_array_equal(o["image"], ex["image"])
  a = augment_example(ex, np.random.default_rng(7), flip=True, crop_padding=1)
  b = augment_example(ex, np.random.default_rng(7), flip=True, crop_padding=1)
  np.testing.assert_array_equal(a["image"], b["image"])
