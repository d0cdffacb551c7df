"""tfds source: reads through tfds.data_source (under mock_data) and fails clearly when the
dataset is not prepared."""
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from lib.data import image_shape, make_iterator, make_source, num_classes, num_examples
from lib.data.tfds_source import DatasetNotPreparedError


def config(**kw):
  return ml_collections.ConfigDict({**dict(source="tfds", name="mnist", data_dir="",
                                           image_size=0, channels=0, prefetch=0), **kw})


def test_reads_records_through_data_source():
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    raw = tfds.data_source("mnist", split="test")
    native = make_source(config(), "test")
    assert len(native) == 12 and num_examples(config(), "test") == 12
    for i in [0, 5, 11]:
      ex, rec = native[i], raw[i]
      np.testing.assert_allclose(ex["image"], rec["image"].astype(np.float32) / 127.5 - 1)
      assert ex["label"] == rec["label"] and ex["label"].dtype == np.int32
    assert num_classes(config()) == 10
    cfg = config(image_size=16, channels=3)
    assert image_shape(cfg) == (16, 16, 3)
    batch = next(make_iterator(cfg, "train", global_batch_size=4, seed=0))
    assert batch["image"].shape == (4, 16, 16, 3) and batch["image"].dtype == np.float32
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0


def test_not_prepared_error_names_dataset_dir_and_fix(tmp_path):
  with pytest.raises(DatasetNotPreparedError) as info:
    make_source(config(data_dir=str(tmp_path)), "train")
  msg = str(info.value)
  assert "'mnist'" in msg and str(tmp_path) in msg
  assert f"tfds build mnist --data_dir {tmp_path}" in msg and "array_record" in msg
  with pytest.raises(ValueError, match="no dataset named"):
    make_source(config(name="no_such_dataset_xyz", data_dir=str(tmp_path)), "train")
