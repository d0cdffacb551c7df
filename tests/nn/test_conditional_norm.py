"""Conditional BatchNorm (class embeddings; BigGAN's linear variant) and ViTGAN's SLN against
numpy transcriptions."""
import jax
import numpy as np

from lib.nn.conditional_norm import ClassConditionalBatchNorm, LinearConditionalBatchNorm
from lib.nn.self_modulated_ln import SelfModulatedLayerNorm


def np_bn(x, eps=1e-5):
  mu = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  return (x - mu) / np.sqrt(var + eps), mu, var


def test_class_conditional_bn_matches_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, size=(6, 4, 4, 5)).astype(np.float32)
  labels = np.array([0, 1, 2, 1, 0, 2], np.int32)
  m = ClassConditionalBatchNorm(num_classes=3)
  v = m.init(jax.random.key(0), x, labels, train=True)
  gamma = rng.normal(size=(3, 5)).astype(np.float32)
  beta = rng.normal(size=(3, 5)).astype(np.float32)
  params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
  y, upd = m.apply({"params": params, "batch_stats": v["batch_stats"]}, x, labels, train=True,
                   mutable=["batch_stats"])
  x_hat, mu, var = np_bn(x.astype(np.float64))
  ref = gamma[labels][:, None, None, :] * x_hat + beta[labels][:, None, None, :]
  np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-4)
  # Running statistics: momentum 0.9 from (0, 1) towards the batch statistics.
  rs = upd["batch_stats"]["bn"]
  np.testing.assert_allclose(np.asarray(rs["mean"]), 0.1 * mu, rtol=1e-4, atol=1e-5)
  n = x.shape[0] * x.shape[1] * x.shape[2]
  np.testing.assert_allclose(np.asarray(rs["var"]), 0.9 + 0.1 * var, rtol=1e-3)  # flax: biased var
  assert n > 1
  # Eval mode uses the running statistics.
  y_eval = m.apply({"params": params, "batch_stats": upd["batch_stats"]}, x, labels, train=False)
  ref_eval = (gamma[labels][:, None, None, :] * (x - rs["mean"]) / np.sqrt(rs["var"] + 1e-5)
              + beta[labels][:, None, None, :])
  np.testing.assert_allclose(np.asarray(y_eval), ref_eval, rtol=1e-4, atol=1e-4)


def test_linear_conditional_bn_matches_numpy():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(4, 3, 3, 6)).astype(np.float32)
  cond = rng.normal(size=(4, 7)).astype(np.float32)
  m = LinearConditionalBatchNorm()
  v = m.init(jax.random.key(0), x, cond, train=True)
  wg = np.asarray(v["params"]["gain"]["kernel"])
  wb = np.asarray(v["params"]["bias"]["kernel"])
  y, _ = m.apply(v, x, cond, train=True, mutable=["batch_stats"])
  x_hat, _, _ = np_bn(x.astype(np.float64))
  ref = (1 + cond @ wg)[:, None, None, :] * x_hat + (cond @ wb)[:, None, None, :]
  np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-4)


def test_self_modulated_layer_norm_matches_numpy():
  rng = np.random.default_rng(2)
  h = rng.normal(1.0, 2.0, size=(2, 5, 8)).astype(np.float32)
  w = rng.normal(size=(2, 3)).astype(np.float32)
  m = SelfModulatedLayerNorm()
  v = m.init(jax.random.key(0), h, w)
  p = jax.tree.map(lambda a: np.asarray(a) + rng.normal(size=a.shape).astype(np.float32),
                   v["params"])
  y = m.apply({"params": p}, h, w)
  mu = h.mean(-1, keepdims=True)
  sd = np.sqrt(h.var(-1, keepdims=True) + 1e-6)
  gamma = w @ p["gamma"]["kernel"] + p["gamma"]["bias"]
  beta = w @ p["beta"]["kernel"] + p["beta"]["bias"]
  ref = gamma[:, None] * (h - mu) / sd + beta[:, None]
  np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-4)
  # At init (gamma bias 1, beta bias 0) and w = 0, SLN is a plain LayerNorm.
  y0 = m.apply(v, h, np.zeros_like(w))
  np.testing.assert_allclose(np.asarray(y0), (h - mu) / sd, rtol=1e-4, atol=1e-4)
