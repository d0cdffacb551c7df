"""Pipeline: determinism, seeds, epochs, resumable state, process sharding, eval padding."""
import json

import ml_collections
import numpy as np
import pytest

from lib.data import pipeline
from lib.data.pipeline import make_eval_iterator, make_iterator

DIGITS = ml_collections.ConfigDict(dict(source="digits", image_size=8, channels=1, prefetch=2))
SHAPES = ml_collections.ConfigDict(dict(source="shapes", image_size=12, num_train=64,
                                        max_objects=2, prefetch=0))
INDEX = ml_collections.ConfigDict(dict(source="index", prefetch=0))


class IndexSource:
  """Example i carries its own index, so batches can be read back as index lists."""
  num_classes, image_shape = 10, (2, 2, 1)

  def __init__(self, n: int):
    self.n = n

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    return {"image": np.full((2, 2, 1), i, np.float32), "label": np.int32(i % 10 + 1),
            "index": np.int32(i)}


@pytest.fixture
def index_source(monkeypatch):
  """make_iterator over IndexSource(n) for INDEX configs; n set by calling the fixture."""
  sizes = {"n": 20}
  real = pipeline.make_source
  monkeypatch.setattr(pipeline, "make_source", lambda cfg, split: IndexSource(sizes["n"])
                      if cfg.source == "index" else real(cfg, split))
  return sizes


def take(it, k):
  return [next(it) for _ in range(k)]


def assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


def test_same_seed_same_batches_other_seed_differs():
  a = take(make_iterator(DIGITS, "train", global_batch_size=16, seed=3, augment=True), 4)
  b = take(make_iterator(DIGITS, "train", global_batch_size=16, seed=3, augment=True), 4)
  c = take(make_iterator(DIGITS, "train", global_batch_size=16, seed=4, augment=True), 4)
  assert_batches_equal(a, b)
  assert a[0]["image"].shape == (16, 8, 8, 1) and a[0]["label"].dtype == np.int32
  assert not np.array_equal(a[0]["label"], c[0]["label"])


def test_epochs_cover_the_split_and_reshuffle(index_source):
  it = make_iterator(INDEX, "train", global_batch_size=5, seed=0, num_epochs=3)
  assert it.num_batches == 12
  batches = [b["index"] for b in it]
  assert len(batches) == 12
  epochs = [np.concatenate(batches[4 * e:4 * e + 4]) for e in range(3)]
  for e in epochs:
    assert sorted(e.tolist()) == list(range(20))
  assert not np.array_equal(epochs[0], epochs[1])
  assert not np.array_equal(epochs[0], np.arange(20))
  unshuffled = make_iterator(INDEX, "train", global_batch_size=5, seed=0, shuffle=False)
  assert next(unshuffled)["index"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("config", [DIGITS, SHAPES])
def test_state_resumes_identical_batches(config):
  it = make_iterator(config, "train", global_batch_size=8, seed=1, augment=True)
  take(it, 3)
  state = json.loads(json.dumps(it.get_state()))        # what a checkpoint stores
  expected = take(it, 5)
  fresh = make_iterator(config, "train", global_batch_size=8, seed=1, augment=True)
  fresh.set_state(state)
  assert_batches_equal(take(fresh, 5), expected)
  assert fresh.get_state() == it.get_state()


def test_state_from_another_order_is_refused(index_source):
  state = make_iterator(INDEX, "train", global_batch_size=4, seed=1).get_state()
  other = make_iterator(INDEX, "train", global_batch_size=4, seed=2)
  with pytest.raises(ValueError, match="seed"):
    other.set_state(state)


@pytest.mark.parametrize("count", [2, 4])
def test_processes_split_each_global_batch(index_source, count):
  index_source["n"] = 37
  whole = take(make_iterator(INDEX, "train", global_batch_size=8, seed=5, augment=True), 6)
  parts = [take(make_iterator(INDEX, "train", global_batch_size=8, seed=5, augment=True,
                              process_index=p, process_count=count), 6) for p in range(count)]
  for b, global_batch in enumerate(whole):
    local = [parts[p][b]["index"] for p in range(count)]
    assert all(len(x) == 8 // count for x in local)
    assert len(set(np.concatenate(local).tolist())) == 8      # disjoint
    for k in global_batch:                                     # concatenation = global batch
      np.testing.assert_array_equal(np.concatenate([parts[p][b][k] for p in range(count)]),
                                    global_batch[k])


def test_state_resumes_with_another_process_count(index_source):
  it = make_iterator(INDEX, "train", global_batch_size=6, seed=2)
  take(it, 4)
  state = it.get_state()
  expected = next(it)["index"]
  halves = []
  for p in range(2):
    shard = make_iterator(INDEX, "train", global_batch_size=6, seed=2, process_index=p,
                          process_count=2)
    shard.set_state(state)
    halves.append(next(shard)["index"])
  np.testing.assert_array_equal(np.concatenate(halves), expected)


def test_eval_iterator_sees_every_example_once(index_source):
  index_source["n"] = 23
  seen, counts = [], []
  for p in range(2):
    batches = list(make_eval_iterator(INDEX, "test", global_batch_size=8, process_index=p,
                                      process_count=2))
    counts.append(len(batches))
    assert all(b["index"].shape == (4,) and b["valid"].dtype == bool for b in batches)
    seen.append(batches)
  assert counts == [3, 3]                      # same number of batches on every process
  order = [seen[p][b] for b in range(3) for p in range(2)]
  valid = np.concatenate([x["valid"] for x in order])
  np.testing.assert_array_equal(np.concatenate([x["index"] for x in order])[valid],
                                np.arange(23))
  assert valid.sum() == 23 and not valid[23:].any()
  assert np.all(np.concatenate([x["label"] for x in order])[~valid] == 0)


def test_drop_remainder_and_errors(index_source):
  index_source["n"] = 23
  batches = list(make_iterator(INDEX, "test", global_batch_size=8, seed=0, shuffle=False,
                               num_epochs=1))
  assert len(batches) == 2 and "valid" not in batches[0]
  assert np.concatenate([b["index"] for b in batches]).tolist() == list(range(16))
  with pytest.raises(ValueError, match="multiple"):
    make_iterator(INDEX, "train", global_batch_size=6, seed=0, process_count=4)
  with pytest.raises(ValueError, match="one global batch"):
    make_iterator(INDEX, "train", global_batch_size=32, seed=0, num_epochs=1)
  with pytest.raises(ValueError, match="known sources"):
    make_iterator(ml_collections.ConfigDict(dict(source="nope")), "train",
                  global_batch_size=4, seed=0)
