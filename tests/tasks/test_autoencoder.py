"""The autoencoder task, the VQGAN tokenizer and the reconstruction evaluators (issue 14)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.vqgan import get_config
from lib.tasks import autoencoder
from lib.train.evaluators import EvalContext, eval_batches, evaluator_factory
from lib.train.mesh import make_mesh
from tests.test_config_smoke import CONFIGS

QUANTIZERS = ("vq", "ema_vq", "fsq", "lfq")


def smoke(quantizer):
  return get_config(f"smoke,quantizer={quantizer}")


def images(n=8, size=16, seed=0):
  return jax.random.uniform(jax.random.key(seed), (n, size, size, 1), minval=-1.0, maxval=1.0)


def test_config_smoke_picks_up_the_tokenizer_configs():
  assert {"vqgan", "fsq", "lfq"} <= set(CONFIGS)


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_decode_of_encoded_indices_is_the_reconstruction(quantizer):
  c = smoke(quantizer)
  x = images()
  state = autoencoder.init(c, jax.random.key(0), {"image": x})
  model, variables = autoencoder.model_of(c), autoencoder._variables(state)
  recon, aux = model.apply(variables, x, train=False)
  tokens = model.apply(variables, x, method=model.encode_indices)
  assert tokens.dtype == jnp.int32 and tokens.shape == (8, 8, 8)   # 16px, one downsampling
  np.testing.assert_array_equal(tokens, aux["indices"])
  assert 0 <= int(tokens.min()) and int(tokens.max()) < autoencoder.codebook_size(c)
  decoded = model.apply(variables, tokens, method=model.decode_indices)
  assert decoded.shape == x.shape
  np.testing.assert_allclose(decoded, recon, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("quantizer", ["vq", "ema_vq"])
def test_train_step_updates_the_codebook_the_quantizer_way(quantizer):
  c = smoke(quantizer)
  batch = {"image": images()}
  state = autoencoder.init(c, jax.random.key(0), batch)
  new, metrics = jax.jit(lambda s, b, r: autoencoder.train_step(c, s, b, r))(
      state, batch, jax.random.key(1))
  assert {"loss", "recon_loss", "quantizer_loss", "codebook_usage", "perplexity"} <= set(metrics)
  np.testing.assert_allclose(metrics["loss"], metrics["recon_loss"] + metrics["quantizer_loss"],
                             rtol=1e-6)
  l1 = np.abs(np.asarray(autoencoder.predict(c, state, batch)) - np.asarray(batch["image"]))
  np.testing.assert_allclose(metrics["recon_loss"], l1.mean(), rtol=1e-5)
  if quantizer == "ema_vq":
    stats, new_stats = state.model_state["quantizer_stats"], new.model_state["quantizer_stats"]
    for key in ("codebook", "cluster_size", "embed_sum"):
      assert not np.allclose(stats["quantize"][key], new_stats["quantize"][key]), key
    assert "quantize" not in state.params       # the codebook is no gradient-trained param
  else:
    assert not state.model_state
    assert not np.allclose(state.params["quantize"]["codebook"], new.params["quantize"]["codebook"])


@pytest.mark.parametrize("quantizer", QUANTIZERS)
def test_smoke_training_lowers_the_loss(quantizer):
  c = smoke(quantizer)
  c.optimizer.schedule = "constant"
  batch = {"image": images(16)}
  state = autoencoder.init(c, jax.random.key(0), batch)
  step = jax.jit(lambda s, r: autoencoder.train_step(c, s, batch, r))
  losses = []
  for i in range(8):
    state, m = step(state, jax.random.key(i))
    losses.append(float(m["recon_loss"]))
  assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_reconstruction_metrics_equal_numpy_on_the_predictions(tmp_path):
  c = smoke("vq")
  c.eval.batch_size = 128
  mesh = make_mesh(c.mesh)
  ctx = EvalContext(c, autoencoder, mesh, None, str(tmp_path))
  state = autoencoder.init(c, jax.random.key(0), {"image": images()})
  got = evaluator_factory("reconstruction")(ctx)(state, 0, True)
  model, variables = autoencoder.model_of(c), autoencoder._variables(state)
  xs, recons, tokens = [], [], []
  for batch in eval_batches(ctx):                       # the split's images, padding dropped
    keep = np.asarray(batch["valid"])
    x = np.asarray(batch["image"])[keep]
    xs.append(x)
    recons.append(np.asarray(autoencoder.predict(c, state, {"image": x})))
    tokens.append(np.asarray(model.apply(variables, x, method=model.encode_indices)))
  x, r, t = np.concatenate(xs), np.concatenate(recons), np.concatenate(tokens)
  mse = ((r - x) ** 2).reshape(len(x), -1).mean(1)
  assert got["eval_examples"] == len(x) > 128           # more than one batch
  np.testing.assert_allclose(got["recon_l1"], np.abs(r - x).mean(), rtol=1e-5)
  np.testing.assert_allclose(got["recon_l2"], mse.mean(), rtol=1e-5)
  np.testing.assert_allclose(got["psnr"], np.mean(10 * np.log10(4.0 / mse)), rtol=1e-5)
  _, counts = np.unique(t, return_counts=True)
  p = counts / counts.sum()
  np.testing.assert_allclose(got["eval_codebook_usage"], len(counts) / 16, rtol=1e-6)
  np.testing.assert_allclose(got["eval_perplexity"], np.exp(-(p * np.log(p)).sum()), rtol=1e-5)


def test_reconstruction_grid_writes_a_png(tmp_path):
  c = smoke("fsq")
  ctx = EvalContext(c, autoencoder, make_mesh(c.mesh), None, str(tmp_path))
  state = autoencoder.init(c, jax.random.key(0), {"image": images()})
  evaluator_factory("reconstruction_grid")(ctx)(state, 3, True)
  from PIL import Image
  grid = np.asarray(Image.open(tmp_path / "samples" / "reconstructions_0000003.png"))
  assert grid.shape == (2 * 17 + 1, 4 * 17 + 1)          # 2 rows (input | recon) x 4 images


def test_reconstruction_fid_is_zero_for_exact_reconstructions_and_the_frechet_distance_otherwise(
    tmp_path):
  """rFID against an independent computation: identity reconstructions score 0; inverted
  images score the Frechet distance of the two feature sets computed here."""
  import types

  from lib.metrics.extractor import signed_to_unit
  from lib.metrics.frechet import frechet_distance_from_features
  from lib.train.generator_evaluators import load_extractor
  c = smoke("vq")
  c.eval.batch_size = 128
  mesh = make_mesh(c.mesh)
  scores = {}
  for name, fn in (("identity", lambda x: x), ("inverted", lambda x: -x)):
    task = types.SimpleNamespace(codebook_size=lambda c: 16,
                                 reconstruct_and_tokens=lambda c, s, x, fn=fn: (fn(x), None))
    ctx = EvalContext(c, task, mesh, None, str(tmp_path))
    scores[name] = evaluator_factory("reconstruction_fid")(ctx)(None, 0, True)
  assert abs(scores["identity"]["reconstruction_fid"]) < 1e-3
  ext = load_extractor(c.eval.extractor)
  x = np.concatenate([np.asarray(b["image"])[np.asarray(b["valid"])] for b in eval_batches(ctx)])
  want = frechet_distance_from_features(
      np.asarray(ext.features(signed_to_unit(-x)), np.float64),
      np.asarray(ext.features(signed_to_unit(x)), np.float64))
  assert want > 1.0
  np.testing.assert_allclose(scores["inverted"]["reconstruction_fid"], want, rtol=1e-4)
  assert scores["inverted"]["protocol/extractor"] == ext.name
