"""The committed digits classifier: hash-checked, accurate on the held-out split, and the
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


def _test_split():
  c = vit.get_config("digits")
  src = data_lib.make_source(c.data, "test")
  images = np.stack([src[i]["image"] for i in range(len(src))])
  labels = np.array([src[i]["label"] for i in range(len(src))])
  return c, images, labels


def test_classifier_is_accurate_on_held_out_digits():
  ext = domain_classifier.load("vit_digits")
  _, images, labels = _test_split()
  logits = np.asarray(ext.logits((images + 1) / 2))
  acc = float(np.mean(logits.argmax(-1) == labels))
  assert acc >= 0.95
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
