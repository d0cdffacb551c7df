"""The committed domain classifiers (digits, shapes): hash-checked, accurate on the held-out split, and the
generator evaluators built on it rank real samples above noise."""
import os
import shutil
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vit
from lib import data as data_lib
from lib.metrics import domain_classifier
from lib.train import generator_evaluators  # noqa: F401  (registers the evaluators)
from lib.train.evaluators import EvalContext, evaluator_factory


def _test_split(dataset: str = "digits"):
  c = vit.get_config(dataset)
  src = data_lib.make_source(c.data, "test")
  images = np.stack([src[i]["image"] for i in range(len(src))])
  labels = np.array([src[i]["label"] for i in range(len(src))])
  return c, images, labels


@pytest.mark.parametrize("dataset,floor", [("digits", 0.95), ("shapes", 0.65)])
def test_classifier_is_accurate_on_held_out_split(dataset, floor):
  # shapes: 3 classes (chance 1/3), the label being the class of the largest of 1-3 shapes
  ext = domain_classifier.load(f"vit_{dataset}")
  _, images, labels = _test_split(dataset)
  logits = np.asarray(ext.logits((images + 1) / 2))
  acc = float(np.mean(logits.argmax(-1) == labels))
  assert acc >= floor
  assert abs(acc - ext.extra["test_accuracy"]) < 1e-6  # the card records what it measures


def test_changed_weights_are_refused(tmp_path):
  for ext in (".npz", ".json"):
    shutil.copy(os.path.join(domain_classifier.WEIGHTS_DIR, "vit_digits" + ext), tmp_path)
  with np.load(tmp_path / "vit_digits.npz") as z:
    arrays = {k: z[k] for k in z.files}
  key = sorted(arrays)[0]
  arrays[key] = arrays[key] + 1e-3
  np.savez(tmp_path / "vit_digits.npz", **arrays)
  with pytest.raises(ValueError, match="SHA-256"):
    domain_classifier.load("vit_digits", weights_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="python -m lib.metrics.domain_classifier"):
    domain_classifier.load("vit_missing", weights_dir=str(tmp_path))


def test_generator_evaluators_prefer_real_digits_over_noise(tmp_path):
  """A stand-in 'generator' that returns held-out digits of the requested class scores near
  perfect conditional accuracy and a lower FID/KID and higher precision than uniform noise."""
  c, images, labels = _test_split()
  c.unlock()
  c.eval.metric_samples = 200
  by_class = np.stack([images[labels == k][:20] for k in range(10)])  # [10, 20, H, W, 1]

  def make_task(noise: bool):
    def sample(config, state, rng, n, labels_):
      idx = jax.random.randint(rng, (n,), 0, by_class.shape[1])
      real = jnp.asarray(by_class)[labels_, idx]
      return jax.random.uniform(rng, real.shape, minval=-1, maxval=1) if noise else real
    return types.SimpleNamespace(sample=sample, num_conditional_classes=lambda config: 10)

  scores = {}
  for noise in (False, True):
    ctx = EvalContext(c, make_task(noise), None, None, str(tmp_path / str(noise)))
    m = {}
    for name in ("conditional_accuracy", "fid", "kid", "pr"):
      m.update(evaluator_factory(name)(ctx)(None, 0, True))
    scores[noise] = m
  real, noise = scores[False], scores[True]
  assert real["conditional_accuracy"] >= 0.95 and noise["conditional_accuracy"] < 0.5
  assert real["fid"] < noise["fid"] / 5 and real["kid"] < noise["kid"]
  assert real["precision"] > noise["precision"]
  assert real["protocol/extractor"] == "vit_digits" and real["protocol/num_samples"] == 200


def _blur(images, k):
  """Box blur of width k (numpy), per image and channel, edges clamped."""
  if k == 1:
    return images
  pad = k // 2
  x = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
  out = np.zeros_like(images)
  for dy in range(k):
    for dx in range(k):
      out += x[:, dy:dy + images.shape[1], dx:dx + images.shape[2]]
  return out / (k * k)


def test_domain_fid_rises_monotonically_with_noise_and_blur():
  from lib.metrics.frechet import frechet_distance_from_features
  ext = domain_classifier.load("vit_digits")
  _, images, _ = _test_split()
  unit = (images + 1) / 2
  half = len(unit) // 2
  ref = np.asarray(ext.features(unit[:half]), np.float64)
  rng = np.random.default_rng(0)
  noisy = [frechet_distance_from_features(
      ref, np.asarray(ext.features(np.clip(unit[half:] + s * rng.normal(size=unit[half:].shape),
                                           0, 1)), np.float64)) for s in (0.0, 0.1, 0.2, 0.4)]
  blurred = [frechet_distance_from_features(
      ref, np.asarray(ext.features(_blur(unit[half:], k)), np.float64)) for k in (1, 3, 5, 7)]
  assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy
  assert all(a < b for a, b in zip(blurred, blurred[1:])), blurred


def test_reference_stats_command_matches_direct_statistics(tmp_path):
  from lib.metrics import reference_stats
  from lib.metrics.frechet import RunningStats
  out = str(tmp_path / "ref.npz")
  reference_stats.main(["--source", "digits", "--split", "test", "--extractor", "vit_digits",
                        "--out", out])
  stats = RunningStats.load(out)
  ext = domain_classifier.load("vit_digits")
  _, images, _ = _test_split()
  feats = np.asarray(ext.features((images + 1) / 2), np.float64)
  assert stats.n == 297
  np.testing.assert_allclose(stats.mean, feats.mean(0), atol=1e-5)
  np.testing.assert_allclose(stats.cov, np.cov(feats, rowvar=False), atol=1e-5)
  assert stats.meta["extractor"] == "vit_digits" and stats.meta["split"] == "test"
  assert stats.meta["extractor_sha256"] == ext.sha256
