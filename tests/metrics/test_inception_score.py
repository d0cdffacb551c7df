"""Inception Score = exp(E_x KL(p(y|x) || p(y))) over splits, on crafted class probabilities."""
import numpy as np
import pytest
from scipy.stats import entropy

from lib.metrics import inception_score as isc


def test_confident_balanced_classes_give_the_number_of_classes():
  k, n = 10, 1000
  logits = 40.0 * np.eye(k)[np.arange(n) % k]  # each split of 100 holds every class 10 times
  mean, std = isc.inception_score(logits, splits=10)
  np.testing.assert_allclose(mean, k, rtol=1e-9)
  assert std < 1e-9


def test_uniform_predictions_give_one():
  mean, std = isc.inception_score(np.zeros((500, 7)), splits=5)
  np.testing.assert_allclose(mean, 1.0, rtol=1e-12)
  assert std == 0.0


def test_hard_labels_give_exp_entropy_of_the_label_marginal():
  # One-hot p(y|x): KL = -log p(y = label), so IS = exp(H(p(y))).
  labels = np.array([0] * 500 + [1] * 250 + [2] * 250)
  probs = np.eye(3)[labels]
  mean, _ = isc.inception_score(probs=probs, splits=1)
  np.testing.assert_allclose(mean, np.exp(entropy([0.5, 0.25, 0.25])), rtol=1e-12)  # 2 sqrt 2


def test_random_logits_match_split_transcription():
  rng = np.random.default_rng(0)
  logits = 3 * rng.standard_normal((203, 12))
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  scores = []
  for i in range(4):
    part = p[i * 203 // 4:(i + 1) * 203 // 4]
    py = part.mean(0)
    scores.append(np.exp(np.mean([entropy(row, py) for row in part])))  # entropy(p, q) = KL(p||q)
  got = isc.split_scores(logits, splits=4)
  np.testing.assert_allclose(got, scores, rtol=1e-10)
  np.testing.assert_allclose(isc.inception_score(probs=p, splits=4),
                             (np.mean(scores), np.std(scores)), rtol=1e-10)
  with pytest.raises(ValueError):
    isc.inception_score(logits, probs=p)
