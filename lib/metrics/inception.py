"""InceptionV3 as used for FID (Szegedy et al. 2016; Heusel et al. 2017), in Flax linen.

The network is the 2015-12-05 TensorFlow graph that the FID and IS reference code load, laid
out as pytorch-fid ports it (torchvision's InceptionV3 with its FIDInceptionA/C/E blocks):
  - the average pools inside the A, C and E blocks ignore padding (TF's behaviour,
    torch's count_include_pad=False);
  - the last E block (Mixed_7c) max-pools its pool branch (a quirk of that graph);
  - every conv has no bias and is followed by BatchNorm (eps 1e-3) in inference mode, folded
    into the conv here: w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(...);
  - outputs: 2048-d pool features (global mean of Mixed_7c) and 1008 logits (fc).
Inputs are resized to 299 x 299 (bilinear, align_corners=False, as pytorch-fid) and scaled
from [0, 1] to [-1, 1]. Parameter names follow the torch module names, so the converter is a
renaming and a transposition (OIHW -> HWIO).

Weights are never downloaded: `load_inception(path)` reads an npz made once by
`convert_pth_to_npz` from pytorch-fid's pt_inception-2015-12-05-6726825d.pth, e.g.
  python -m lib.metrics.inception pt_inception-2015-12-05-6726825d.pth pt_inception-2015-12-05.npz

Integrity. The SHA-256 that names a result's feature space is `weights_sha256` of the arrays
(canonical, independent of npz/zip timestamps, which make file hashes of two conversions of
the same .pth differ). Its official value is not known here: computing it needs the .pth,
which this project cannot fetch. So until EXPECTED_WEIGHTS_SHA256 is filled in (by whoever
first converts the official file; the converter prints the value), load_inception checks the
arrays against the hash the converter recorded in the sidecar `<npz>.json`, and checks that
the converted source file's SHA-256 starts with 6726825d, the prefix torch.hub's naming
convention puts in the official file name. A caller may also pass expected_sha256.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lib.metrics.extractor import FeatureExtractor, weights_sha256

BN_EPS = 1e-3
NUM_CLASSES = 1008
FEATURE_DIM = 2048
INPUT_SIZE = (299, 299)
MIN_INPUT_SIZE = 75  # the smallest side the valid convs and stride-2 pools accept
PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PTH_NAME
PTH_SHA256_PREFIX = "6726825d"  # torch.hub convention: file name carries its SHA-256 prefix
NPZ_NAME = "pt_inception-2015-12-05.npz"
EXPECTED_WEIGHTS_SHA256: str | None = None  # weights_sha256 of the official conversion
NAME = "inception_v3_fid_2015-12-05"
HIGHEST = jax.lax.Precision.HIGHEST


class BasicConv2d(nn.Module):
  """Conv (no bias) + BatchNorm (inference, folded) + ReLU; params keep the BN statistics."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], self.features))
    scale = self.param("scale", nn.initializers.ones, (self.features,))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    s = scale * jax.lax.rsqrt(var + BN_EPS)  # BN(y) = (y - mean) s + bias, folded into w and b
    y = jax.lax.conv_general_dilated(
        x, kernel * s, self.strides, [(p, p) for p in self.padding],
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=HIGHEST)
    return nn.relu(y + (bias - mean * s))


def avg_pool_3x3_same(x):
  """3x3 stride-1 average pool over the unpadded cells only (TF; count_include_pad=False)."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def max_pool_3x3(x, stride: int, pad: int = 0):
  return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):  # Mixed_5b-d (FIDInceptionA)
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):  # Mixed_6a: grid reduction 35 -> 17
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, max_pool_3x3(x, 2)], axis=-1)


class InceptionC(nn.Module):  # Mixed_6b-e (FIDInceptionC): factorized 7x7
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):  # Mixed_7a: grid reduction 17 -> 8
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, max_pool_3x3(x, 2)], axis=-1)


class InceptionE(nn.Module):  # Mixed_7b (FIDInceptionE_1, avg pool), Mixed_7c (_2, max pool)
  pool: str = "avg"

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
    pooled = avg_pool_3x3_same(x) if self.pool == "avg" else max_pool_3x3(x, 1, pad=1)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3FID(nn.Module):
  """x: NHWC in [-1, 1] (299 x 299 for the reference features; >= 75 x 75 runs).
  Returns {"pool": [N, 2048], "logits": [N, 1008]}."""

  @nn.compact
  def __call__(self, x):
    x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = max_pool_3x3(x, 2)
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = max_pool_3x3(x, 2)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    pool = x.mean(axis=(1, 2))
    logits = nn.Dense(NUM_CLASSES, precision=HIGHEST, name="fc")(pool)
    return {"pool": pool, "logits": logits}


def param_shapes() -> dict[str, tuple[int, ...]]:
  """Flat 'module/.../leaf' -> shape of every parameter (abstract init, nothing allocated)."""
  tree = jax.eval_shape(InceptionV3FID().init, jax.random.key(0),
                        jnp.zeros((1, MIN_INPUT_SIZE, MIN_INPUT_SIZE, 3)))["params"]
  return {k: v.shape for k, v in traverse_util.flatten_dict(tree, sep="/").items()}


_BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}


def state_dict_to_params(state_dict: dict[str, Any]) -> dict[str, np.ndarray]:
  """pytorch-fid state dict (name -> array) to flat float32 params of InceptionV3FID.

  Conv weights OIHW -> HWIO, fc weight [out, in] -> [in, out], BatchNorm renamed;
  AuxLogits.* and num_batches_tracked are dropped; anything else unexpected is an error."""
  flat, unexpected = {}, []
  for key, value in state_dict.items():
    a = np.asarray(value, np.float32)
    parts = key.split(".")
    if parts[0] == "AuxLogits" or parts[-1] == "num_batches_tracked":
      continue
    if parts[-2:] == ["conv", "weight"] and a.ndim == 4:
      flat["/".join(parts[:-2] + ["kernel"])] = a.transpose(2, 3, 1, 0)
    elif len(parts) > 1 and parts[-2] == "bn" and parts[-1] in _BN_NAMES:
      flat["/".join(parts[:-2] + [_BN_NAMES[parts[-1]]])] = a
    elif key == "fc.weight" and a.ndim == 2:
      flat["fc/kernel"] = a.T
    elif key == "fc.bias":
      flat["fc/bias"] = a
    else:
      unexpected.append(key)
  shapes = param_shapes()
  missing = sorted(set(shapes) - set(flat))
  unexpected += sorted(set(flat) - set(shapes))
  wrong = [f"{k}: {flat[k].shape} != {shapes[k]}" for k in flat
           if k in shapes and flat[k].shape != shapes[k]]
  if missing or unexpected or wrong:
    raise ValueError(f"not a pytorch-fid InceptionV3 state dict: missing {missing[:5]} "
                     f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
                     f"wrong shapes {wrong[:5]}")
  return flat


def file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def save_weights(flat: dict[str, np.ndarray], npz_path: str, source: str = "",
                 source_sha256: str = "") -> str:
  """Writes flat params to npz and the sidecar `<npz>.json` recording their weights_sha256
  and the source file's name and SHA-256; returns weights_sha256."""
  digest = weights_sha256(traverse_util.unflatten_dict(flat, sep="/"))
  np.savez(npz_path, **flat)
  with open(npz_path + ".json", "w") as f:
    json.dump({"weights_sha256": digest, "source": source, "source_sha256": source_sha256,
               "format": "flat flax params of lib.metrics.inception.InceptionV3FID"}, f, indent=1)
  return digest


def convert_pth_to_npz(pth_path: str, npz_path: str, check_source: bool = True) -> str:
  """Converts pytorch-fid's pt_inception-2015-12-05-6726825d.pth to our npz (+ sidecar).
  Needs torch (imported here only). Returns the weights' SHA-256."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError(
        "convert_pth_to_npz needs PyTorch only to read the .pth file, and torch is not "
        "installed here. Run the conversion once where torch is installed (CPU build is "
        "enough): python -m lib.metrics.inception <pth> <npz>, then copy the .npz and its "
        ".npz.json next to it here.") from e
  source_sha256 = file_sha256(pth_path)
  if check_source and not source_sha256.startswith(PTH_SHA256_PREFIX):
    raise ValueError(f"{pth_path} has SHA-256 {source_sha256}, not the official {PTH_NAME} "
                     f"(prefix {PTH_SHA256_PREFIX}); pass check_source=False to convert anyway")
  state_dict = torch.load(pth_path, map_location="cpu", weights_only=True)
  flat = state_dict_to_params({k: v.detach().cpu().numpy() for k, v in state_dict.items()})
  return save_weights(flat, npz_path, os.path.basename(pth_path), source_sha256)


def _missing_weights_message(path: str) -> str:
  return (f"InceptionV3 FID weights not found at {path!r}. This project never downloads "
          f"them. Make {NPZ_NAME} once: download {PTH_NAME} from {PTH_URL} (pytorch-fid's "
          f"port of the 2015-12-05 TF graph), then, where torch is installed, run\n"
          f"  python -m lib.metrics.inception {PTH_NAME} {NPZ_NAME}\n"
          f"and pass the path of {NPZ_NAME} (keep {NPZ_NAME}.json beside it).")


def read_weights(path: str, expected_sha256: str | None = None) -> tuple[dict, str]:
  """(params tree, weights_sha256) from an npz, verified (see the module docstring)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(_missing_weights_message(path))
  with np.load(path, allow_pickle=False) as f:
    flat = {k: f[k] for k in f.files}
  params = traverse_util.unflatten_dict(flat, sep="/")
  digest = weights_sha256(params)
  expected = expected_sha256 or EXPECTED_WEIGHTS_SHA256
  if expected is None:
    sidecar = path + ".json"
    if not os.path.isfile(sidecar):
      raise FileNotFoundError(
          f"{sidecar} is missing: it records the hash convert_pth_to_npz computed, which "
          f"load_inception checks {path} against. Convert again, or pass expected_sha256.")
    with open(sidecar) as f:
      record = json.load(f)
    if not record.get("source_sha256", "").startswith(PTH_SHA256_PREFIX):
      raise ValueError(f"{path} was not converted from the official {PTH_NAME} "
                       f"(source SHA-256 {record.get('source_sha256')!r}); pass "
                       f"expected_sha256 to use other weights knowingly")
    expected = record["weights_sha256"]
  if digest != expected:
    raise ValueError(f"{path}: weights SHA-256 {digest} != expected {expected}")
  shapes = param_shapes()
  if {k: v.shape for k, v in flat.items()} != shapes:
    raise ValueError(f"{path} does not hold InceptionV3FID params")
  return params, digest


def inception_extractor(params, sha256: str, input_size=INPUT_SIZE) -> FeatureExtractor:
  """FeatureExtractor over given params: images in [0, 1] -> 2048-d pool features / logits."""
  model = InceptionV3FID()

  def forward(p, x):
    return model.apply({"params": p}, 2.0 * x - 1.0)  # pytorch-fid's normalize_input

  return FeatureExtractor(
      name=NAME, sha256=sha256, features_fn=lambda p, x: forward(p, x)["pool"],
      logits_fn=lambda p, x: forward(p, x)["logits"], params=jax.tree.map(jnp.asarray, params),
      input_size=tuple(input_size) if input_size else None, channels=3)


def load_inception(path: str, expected_sha256: str | None = None,
                   input_size=INPUT_SIZE) -> FeatureExtractor:
  """The FID InceptionV3 extractor from a weights npz made by convert_pth_to_npz; refuses to
  run without the file or when its hash does not match."""
  params, digest = read_weights(path, expected_sha256)
  return inception_extractor(params, digest, input_size)


def main(argv=None):
  parser = argparse.ArgumentParser(description="Convert pytorch-fid's Inception .pth to npz.")
  parser.add_argument("pth", help=f"path to {PTH_NAME}")
  parser.add_argument("npz", help=f"output path, e.g. {NPZ_NAME}")
  parser.add_argument("--no-check-source", action="store_true",
                      help="convert a .pth whose SHA-256 is not the official one")
  args = parser.parse_args(argv)
  digest = convert_pth_to_npz(args.pth, args.npz, check_source=not args.no_check_source)
  print(f"wrote {args.npz} and {args.npz}.json; weights_sha256 = {digest}")


if __name__ == "__main__":
  main()
