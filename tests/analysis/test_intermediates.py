"""Sown intermediates of a tiny ViT (init only, no training): attention weights read without
changing the model, checked against a recomputation from its params; Run.intermediates and
Run.curves."""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import vit as vit_config
from lib.analysis import Run, attention_rollout, attention_weights_of, sown_intermediates
from lib.attention.multihead import MultiHeadAttention, as_kernel
from lib.errors import ConfigError
from lib.tasks import classify
from lib.nn.transformer import stack_blocks
from research.vit.model import ViT

KW = dict(num_classes=3, patch_size=4, hidden_size=16, depth=2, num_heads=2, mlp_dim=32)


def test_vit_sows_attention_weights_that_match_its_params():
  model = ViT(**KW)
  images = jax.random.normal(jax.random.key(1), (3, 8, 8, 1))
  variables = jax.jit(model.init)(jax.random.key(0), images)  # eager init is slow
  apply = jax.jit(lambda v, x: sown_intermediates(
      model, v, x, capture=lambda m: m.name == "ln1"))
  out, inter = apply(variables, images)
  np.testing.assert_allclose(out, jax.jit(model.apply)(variables, images), atol=1e-6)
  weights = attention_weights_of(inter)
  assert weights.shape == (2, 3, 2, 5, 5)  # [L, B, heads, 1 + 4 patches, same]
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  # independent recomputation of block_0's softmax(q k^T / sqrt(d)) from ln1's output
  y = np.asarray(inter["block_0"]["ln1"]["__call__"][0])
  p = jax.tree.map(np.asarray, variables["params"]["block_0"]["attn"])
  q = np.einsum("btd,dnh->btnh", y, p["query"]["kernel"]) + p["query"]["bias"]
  k = np.einsum("btd,dnh->btnh", y, p["key"]["kernel"]) + p["key"]["bias"]
  logits = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(q.shape[-1])
  want = np.exp(logits - logits.max(-1, keepdims=True))
  np.testing.assert_allclose(weights[0], want / want.sum(-1, keepdims=True), atol=1e-5)
  assert attention_rollout(weights).shape == (3, 5, 5)
  # the scanned model sows the same weights, stacked on the layer axis
  scanned = ViT(**KW, scan_layers=True)
  stacked = {"params": stack_blocks(variables["params"], 2)}
  _, inter_s = jax.jit(lambda v, x: sown_intermediates(scanned, v, x))(stacked, images)
  np.testing.assert_allclose(attention_weights_of(inter_s), weights, atol=1e-5)
  # without asking, the ViT sows no weights (only pre_logits)
  out_plain, plain = jax.jit(lambda v, x: sown_intermediates(
      model, v, x, attention_weights=False))(variables, images)
  assert set(plain) == {"pre_logits"}
  np.testing.assert_allclose(out, out_plain, atol=1e-6)  # asking for weights changes nothing


def _run(metrics=()):
  config = vit_config.get_config("smoke")
  batch = {"image": jnp.zeros((2, 16, 16, 1)), "label": jnp.zeros((2,), jnp.int32)}
  state = jax.jit(lambda r, b: classify.init(config, r, b))(jax.random.key(0), batch)
  return Run("unused", config, classify, state, 0, list(metrics))


def test_run_intermediates_and_curves():
  run = _run([{"step": 2, "loss": 1.5}, {"step": 4, "loss": 1.0, "accuracy": 0.5}])
  images = jax.random.normal(jax.random.key(2), (2, 16, 16, 1))
  inter = run.intermediates({"image": images})
  weights = attention_weights_of(inter)
  assert weights.shape == (1, 2, 2, 17, 17)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  assert inter["pre_logits"][0].shape == (2, 16)
  curves = run.curves()
  assert list(curves) == ["step", "accuracy", "loss"]
  assert curves["step"] == [2, 4] and curves["loss"] == [1.5, 1.0]
  assert math.isnan(curves["accuracy"][0]) and curves["accuracy"][1] == 0.5
  gan_like = Run("unused", ml_collections.ConfigDict(
      {"task": "lib.tasks.gan", "model": {"generator": {}}}), classify, run.state, 0, [])
  with pytest.raises(ConfigError, match="sown_intermediates"):
    gan_like.intermediates({"image": images})


def test_kernels_without_weights_run_unchanged():
  def plain(q, k, v):  # a variant with no weights, wrapped by as_kernel (only **kwargs)
    return v + 0.0 * q
  shell = MultiHeadAttention(num_heads=2, kernel=as_kernel(plain))
  x = jax.random.normal(jax.random.key(0), (1, 3, 4))
  variables = shell.init(jax.random.key(1), x)
  out, inter = sown_intermediates(shell, variables, x)
  assert inter == {}
  np.testing.assert_allclose(out, shell.apply(variables, x), atol=1e-6)
  _, inter = sown_intermediates(MultiHeadAttention(num_heads=2), variables, x)
  assert inter["attention_weights"][0].shape == (1, 2, 3, 3)
