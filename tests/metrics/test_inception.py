"""InceptionV3 (FID variant) with random weights at 75 x 75: shapes, stem against numpy,
the TF average pool, the converter's layout mapping, and the weight-file checks."""
import importlib.util
import json
import os

import jax
import numpy as np
import pytest
from flax import traverse_util

from lib.metrics import inception as inc
from lib.metrics.extractor import weights_sha256

SIZE = inc.MIN_INPUT_SIZE  # 75, the smallest input the valid convs and pools accept
FAKE_SOURCE_SHA = inc.PTH_SHA256_PREFIX + "0" * 56


def _random_flat(seed=0):
  rng = np.random.default_rng(seed)
  flat = {}
  for key, shape in inc.param_shapes().items():
    leaf = key.rsplit("/", 1)[-1]
    if leaf == "kernel":
      flat[key] = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:-1]))
    elif leaf in ("scale", "var"):
      flat[key] = rng.uniform(0.5, 1.5, shape)
    else:
      flat[key] = 0.1 * rng.standard_normal(shape)
    flat[key] = flat[key].astype(np.float32)
  return flat


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  flat = _random_flat()
  path = str(tmp_path_factory.mktemp("inception") / inc.NPZ_NAME)
  digest = inc.save_weights(flat, path, source=inc.PTH_NAME, source_sha256=FAKE_SOURCE_SHA)
  return flat, path, digest


def test_runs_at_small_size_with_right_shapes(weights):
  flat, path, digest = weights
  extractor = inc.load_inception(path, input_size=(SIZE, SIZE))
  assert extractor.sha256 == digest == weights_sha256(traverse_util.unflatten_dict(flat, sep="/"))
  images = np.random.default_rng(1).uniform(size=(2, 32, 32, 1)).astype(np.float32)  # gray
  feats = np.asarray(extractor.features(images))
  assert feats.shape == (2, inc.FEATURE_DIM) and np.isfinite(feats).all()
  assert (feats >= 0).all() and feats.std() > 0  # mean of ReLU outputs, not constant
  assert extractor.describe()["extractor_sha256"] == digest


def _conv_bn_relu(x, p, stride=1, pad=0):
  """Plain numpy: cross-correlation (NHWC, HWIO) then BatchNorm (eps 1e-3) then ReLU."""
  k = p["kernel"].astype(np.float64)
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  kh, kw, _, cout = k.shape
  oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
  y = np.zeros((x.shape[0], oh, ow, cout))
  for i in range(kh):
    for j in range(kw):
      patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      y += patch @ k[i, j]
  y = (y - p["mean"]) / np.sqrt(p["var"] + 1e-3) * p["scale"] + p["bias"]
  return np.maximum(y, 0)


def test_stem_matches_numpy_transcription(weights):
  flat, _, _ = weights
  params = jax.tree.map(np.asarray, traverse_util.unflatten_dict(flat, sep="/"))
  stem = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3")
  x = np.random.default_rng(2).uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)
  out, state = jax.jit(lambda p, x: inc.InceptionV3FID().apply(
      {"params": p}, x, capture_intermediates=lambda m, _: m.name in stem,
      mutable=["intermediates"]))(params, x)
  got = {name: np.asarray(state["intermediates"][name]["__call__"][0]) for name in stem}
  y1 = _conv_bn_relu(x.astype(np.float64), params["Conv2d_1a_3x3"], stride=2)  # 37 x 37 x 32
  y2 = _conv_bn_relu(y1, params["Conv2d_2a_3x3"])  # 35 x 35 x 32
  y3 = _conv_bn_relu(y2, params["Conv2d_2b_3x3"], pad=1)  # 35 x 35 x 64
  for name, ref in zip(stem, (y1, y2, y3)):
    assert got[name].shape == ref.shape
    np.testing.assert_allclose(got[name], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(),
                               err_msg=name)
  pool, logits = np.asarray(out["pool"]), np.asarray(out["logits"])
  assert pool.shape == (1, inc.FEATURE_DIM) and logits.shape == (1, inc.NUM_CLASSES)
  np.testing.assert_allclose(logits, pool @ params["fc"]["kernel"] + params["fc"]["bias"],
                             rtol=1e-4, atol=1e-4 * np.abs(logits).max())


def test_average_pool_ignores_padding_like_tensorflow():
  x = np.random.default_rng(3).standard_normal((1, 4, 5, 2)).astype(np.float32)
  got = np.asarray(inc.avg_pool_3x3_same(x))
  ref = np.zeros_like(x)
  for i in range(4):
    for j in range(5):
      ref[0, i, j] = x[0, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean(axis=(0, 1))
  np.testing.assert_allclose(got, ref, rtol=1e-6)  # a corner averages 4 cells, not 9


def test_state_dict_mapping_from_torch_layout():
  flat = _random_flat(seed=4)
  state_dict = {"AuxLogits.fc.weight": np.zeros((1000, 768))}  # dropped by the converter
  for key, value in flat.items():
    prefix, leaf = key.rsplit("/", 1)
    module = prefix.replace("/", ".")
    if module == "fc":  # torch Linear stores [out, in]
      state_dict["fc.weight" if leaf == "kernel" else "fc.bias"] = \
          value.T if leaf == "kernel" else value
    elif leaf == "kernel":  # torch Conv2d stores [out, in, h, w]
      state_dict[f"{module}.conv.weight"] = value.transpose(3, 2, 0, 1)
    else:
      name = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}[leaf]
      state_dict[f"{module}.bn.{name}"] = value
      state_dict[f"{module}.bn.num_batches_tracked"] = np.array(0)
  got = inc.state_dict_to_params(state_dict)
  assert set(got) == set(flat)
  for key in flat:
    np.testing.assert_array_equal(got[key], flat[key], err_msg=key)
  with pytest.raises(ValueError, match="unexpected"):
    inc.state_dict_to_params({**state_dict, "Mixed_8a.conv.weight": np.zeros(1)})
  del state_dict["Mixed_7c.branch_pool.conv.weight"]
  with pytest.raises(ValueError, match="missing"):
    inc.state_dict_to_params(state_dict)


def test_missing_file_names_the_file_and_how_to_make_it(tmp_path):
  with pytest.raises(FileNotFoundError) as err:
    inc.load_inception(str(tmp_path / "nowhere.npz"))
  message = str(err.value)
  assert inc.NPZ_NAME in message and inc.PTH_NAME in message
  assert "python -m lib.metrics.inception" in message and "never downloads" in message


def test_hash_checks_refuse_tampered_or_unofficial_weights(weights, tmp_path):
  flat, path, digest = weights
  tampered = dict(flat)
  tampered["fc/bias"] = flat["fc/bias"] + 1e-3
  bad = str(tmp_path / "tampered.npz")
  np.savez(bad, **tampered)
  with open(path + ".json") as f:
    record = json.load(f)
  with open(bad + ".json", "w") as f:
    json.dump(record, f)  # the sidecar of the genuine conversion
  with pytest.raises(ValueError, match="SHA-256"):
    inc.read_weights(bad)
  tampered_sha = weights_sha256(traverse_util.unflatten_dict(tampered, sep="/"))
  inc.read_weights(bad, expected_sha256=tampered_sha)  # knowingly other weights: accepted
  with open(bad + ".json", "w") as f:
    json.dump({**record, "source_sha256": "f" * 64}, f)
  with pytest.raises(ValueError, match="official"):
    inc.read_weights(bad)
  os.remove(bad + ".json")
  with pytest.raises(FileNotFoundError, match="json"):
    inc.read_weights(bad)
  assert inc.read_weights(path)[1] == digest


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_converter_without_torch_says_so(tmp_path):
  with pytest.raises(ImportError, match="torch"):
    inc.convert_pth_to_npz(str(tmp_path / inc.PTH_NAME), str(tmp_path / "out.npz"))
