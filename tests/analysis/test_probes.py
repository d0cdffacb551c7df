"""Linear probes against scikit-learn's logistic regression and known extremes; the logit lens
of the last block equals the ViT's own logits."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from lib.analysis import probes
from lib.analysis.intermediates import collect, sown_intermediates
from lib.errors import DataError
from lib.nn.transformer import EncoderBlock
from research.vit.model import ViT


def _clusters(rng, n, d, classes, spread):
  centres = rng.normal(size=(classes, d)) * 4
  y = rng.integers(0, classes, n)
  return centres[y] + spread * rng.normal(size=(n, d)), y


def test_probe_separable_reaches_one_and_random_labels_are_chance():
  rng = np.random.default_rng(0)
  x, y = _clusters(rng, 400, 8, 3, 0.3)
  got = probes.linear_probe(x[:300], y[:300], x[300:], y[300:])
  assert got["accuracy"] >= 0.99 and got["train_accuracy"] >= 0.99
  z = rng.normal(size=(1200, 6))
  labels = rng.integers(0, 4, 1200)
  chance = probes.linear_probe(z[:900], labels[:900], z[900:], labels[900:])["accuracy"]
  assert abs(chance - 0.25) < 0.08


def test_probe_agrees_with_sklearn_logistic_regression():
  rng = np.random.default_rng(1)
  x, y = _clusters(rng, 800, 10, 4, 3.5)  # overlapping: accuracy well below 1
  mean, std = x[:600].mean(0), x[:600].std(0)
  ref = LogisticRegression(C=1e3, max_iter=2000).fit((x[:600] - mean) / std, y[:600])
  want = ref.score((x[600:] - mean) / std, y[600:])
  assert 0.4 < want < 0.97
  got = probes.linear_probe(x[:600], y[:600], x[600:], y[600:], steps=500)["accuracy"]
  assert got == pytest.approx(want, abs=0.04)


def test_probe_layers_and_errors():
  rng = np.random.default_rng(2)
  x, y = _clusters(rng, 300, 5, 3, 0.3)
  accs = probes.probe_layers([rng.normal(size=(300, 5)), x[:, :, None]], y)
  assert accs.shape == (2,) and accs[0] < 0.6 and accs[1] > 0.97
  with pytest.raises(DataError, match="examples"):
    probes.probe_layers([x[:200]], y)
  with pytest.raises(DataError, match="integer"):
    probes.linear_probe(x, y.astype(float), x, y)


def test_logit_lens_of_last_block_is_the_model_output():
  model = ViT(num_classes=5, patch_size=4, hidden_size=16, depth=2, num_heads=2, mlp_dim=32)
  images = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
  variables = jax.jit(model.init)(jax.random.key(0), images)
  logits, inter = jax.jit(lambda v, x: sown_intermediates(model, v, x, capture=(EncoderBlock,)))(
      variables, images)
  streams = [v for _, v in collect(inter, "__call__")]
  assert len(streams) == 2
  lens = probes.logit_lens(streams, probes.vit_head_fn(variables["params"]))
  assert lens.shape == (2, 4, 5)
  np.testing.assert_allclose(lens[-1], np.asarray(logits), atol=1e-5)
  assert np.abs(lens[0] - lens[-1]).max() > 1e-4
  with pytest.raises(DataError, match="head_fn"):
    probes.vit_head_fn({"blocks": {}})
