"""Matryoshka heads and loss (lib/nn/matryoshka.py, lib/tasks/classify.py) against numpy."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from configs import matryoshka as mrl_config
from lib.errors import ConfigError
from lib.nn.matryoshka import MatryoshkaHead
from lib.tasks import classify

NESTING = (2, 4, 8)


def _np_ce(z, y):
  z = z - z.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return -np.mean(logp[np.arange(len(y)), y])


def test_heads_read_prefixes():
  z = jax.random.normal(jax.random.key(0), (5, 8))
  head = MatryoshkaHead(num_classes=3, nesting=NESTING)
  params = head.init(jax.random.key(1), z)["params"]
  out = np.asarray(head.apply({"params": params}, z))
  assert out.shape == (3, 5, 3)
  for i, m in enumerate(NESTING):
    p = params[f"nesting_classifier_{i}"]
    assert p["kernel"].shape == (m, 3)
    np.testing.assert_allclose(out[i], np.asarray(z)[:, :m] @ np.asarray(p["kernel"])
                               + np.asarray(p["bias"]), rtol=1e-5, atol=1e-6)
  # a head sees its prefix only: changing z[:, m:] leaves head m unchanged
  z2 = z.at[:, 2:].add(1.0)
  np.testing.assert_allclose(head.apply({"params": params}, z2)[0], out[0], atol=1e-6)


def test_mrl_e_shares_one_head():
  z = jax.random.normal(jax.random.key(0), (5, 8))
  head = MatryoshkaHead(num_classes=3, nesting=NESTING, efficient=True)
  params = head.init(jax.random.key(1), z)["params"]
  assert list(params) == ["nesting_classifier_0"]
  w, b = (np.asarray(params["nesting_classifier_0"][k]) for k in ("kernel", "bias"))
  assert w.shape == (8, 3)
  out = np.asarray(head.apply({"params": params}, z))
  for i, m in enumerate(NESTING):
    np.testing.assert_allclose(out[i], np.asarray(z)[:, :m] @ w[:m] + b, rtol=1e-5, atol=1e-6)
  # tied: the gradient of the smallest head's output reaches only the first rows of W
  g = jax.grad(lambda p: head.apply({"params": p}, z)[0].sum())(params)
  gw = np.asarray(g["nesting_classifier_0"]["kernel"])
  assert np.all(gw[2:] == 0) and np.any(gw[:2] != 0)


@pytest.mark.parametrize("weights", [(), (1.0, 0.5, 2.0)])
def test_loss_is_sum_of_prefix_cross_entropies(weights):
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 6, 4))
  y = rng.integers(0, 4, 6)
  c = weights or (1.0, 1.0, 1.0)
  want = sum(ci * _np_ce(z, y) for ci, z in zip(c, logits))
  got = classify.matryoshka_cross_entropy(jnp.asarray(logits), jnp.asarray(y), weights)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_train_step_loss_and_representation():
  config = mrl_config.get_config("smoke")
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.normal(size=(8, 16, 16, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, 8), jnp.int32)}
  state = classify.init(config, jax.random.key(0), batch)
  assert {"backbone", "head"} <= set(state.params)
  assert "head" not in state.params["backbone"]         # the backbone's own head is not built
  model = classify.model_of(config)
  nested, inter = model.apply({"params": state.params}, batch["image"],
                              mutable=["intermediates"])
  assert nested.shape == (3, 8, 10)
  want = sum(_np_ce(np.asarray(z), np.asarray(batch["label"])) for z in nested)
  _, metrics = classify.train_step(config, state, batch, jax.random.key(1))
  np.testing.assert_allclose(metrics["loss"], want, rtol=1e-4)
  # z is the ViT's pre-logits: the [class] token after encoder_norm
  tokens = model.backbone.apply({"params": state.params["backbone"]}, batch["image"],
                                features_only=True)
  np.testing.assert_allclose(inter["intermediates"]["representation"][0], tokens[:, 0],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(classify.predict(config, state, batch), nested[-1], atol=1e-5)


def test_bad_nesting_is_a_config_error():
  with pytest.raises(ConfigError, match="nesting"):
    MatryoshkaHead(3, (4, 2)).init(jax.random.key(0), jnp.zeros((1, 8)))
  with pytest.raises(ConfigError, match="nesting"):
    MatryoshkaHead(3, (4, 16)).init(jax.random.key(0), jnp.zeros((1, 8)))
