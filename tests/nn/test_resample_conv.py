"""lib/nn/resample_conv: the fused forms equal the literal compositions (a numpy
transcription: np.repeat upsampling, a loop over kernel taps, a reshape-mean pool), in values
and in gradients, with nn.Conv's parameters."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.nn import resample_conv as rc
from lib.nn.gan_resblocks import DBlock, GBlock


def np_conv_same(x, w, b=None):
  """SAME (zero-padded) stride-1 conv of [B, H, W, Ci] with [k, k, Ci, Co], tap by tap."""
  k = w.shape[0]
  p = (k - 1) // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  h, wd = x.shape[1:3]
  out = np.zeros(x.shape[:3] + (w.shape[-1],))
  for dy in range(k):
    for dx in range(k):
      out += xp[:, dy:dy + h, dx:dx + wd] @ w[dy, dx]
  return out if b is None else out + b


def np_up(x):
  return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def np_pool(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _rand(*shape, seed=0):
  return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_upsample_conv_matches_numpy(k, fused):
  x = _rand(2, 5, 6, 3)
  mod = rc.UpsampleConv(4, k, fused=fused, bias_init=nn.initializers.normal(1.0))
  params = mod.init(jax.random.key(0), x)
  w, b = (np.asarray(params["params"][n]) for n in ("kernel", "bias"))
  got = np.asarray(mod.apply(params, x))
  np.testing.assert_allclose(got, np_conv_same(np_up(x), w, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv_avgpool_matches_numpy(k, fused):
  x = _rand(2, 8, 6, 3, seed=1)
  mod = rc.ConvAvgPool(4, k, fused=fused, bias_init=nn.initializers.normal(1.0))
  params = mod.init(jax.random.key(0), x)
  w, b = (np.asarray(params["params"][n]) for n in ("kernel", "bias"))
  got = np.asarray(mod.apply(params, x))
  np.testing.assert_allclose(got, np_pool(np_conv_same(x, w, b)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["up", "down"])
def test_fused_gradients_equal_literal(kind):
  x, w = jnp.asarray(_rand(2, 8, 8, 5, seed=2)), jnp.asarray(_rand(3, 3, 5, 7, seed=3))
  cot = jnp.asarray(_rand(2, 16, 16, 7, seed=4) if kind == "up" else _rand(2, 4, 4, 7, seed=4))
  if kind == "up":
    fused = rc.upsample_conv3x3_subpixel
    literal = lambda x, w: rc._conv(rc.upsample_nearest2x(x), w)
  else:
    fused = rc.conv_avgpool_strided
    literal = lambda x, w: np_pool_jnp(rc._conv(x, w))
  loss = lambda f: lambda x, w: jnp.sum(f(x, w) * cot)
  gf = jax.grad(loss(fused), argnums=(0, 1))(x, w)
  gl = jax.grad(loss(literal), argnums=(0, 1))(x, w)
  for a, b in zip(gf, gl):
    scale = float(jnp.abs(b).max())
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * scale)


def np_pool_jnp(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@pytest.mark.parametrize("cls", [rc.UpsampleConv, rc.ConvAvgPool])
def test_parameters_are_nn_conv_parameters(cls):
  """Same names and shapes as the nn.Conv it replaces: old checkpoints load unchanged."""
  x = jnp.zeros((1, 8, 8, 3))
  ours = cls(6, 3).init(jax.random.key(0), x)
  conv = nn.Conv(6, (3, 3), padding="SAME").init(jax.random.key(0), x)
  shapes = lambda t: jax.tree.map(jnp.shape, t)
  assert shapes(ours) == shapes(conv)
  with pytest.raises(ValueError, match="must be odd"):
    cls(6, 2).init(jax.random.key(0), x)


def test_blocks_keep_their_parameter_tree_and_spectral_norm():
  """GBlock/DBlock with SN keep the tree of their nn.Conv days (params '<name>/kernel',
  SN's u and sigma under batch_stats '<name>_sn'), so the resampling convs are normalised."""
  x = jnp.asarray(_rand(2, 4, 4, 8, seed=5))
  g = GBlock(6, norm="bn", spectral_norm=True)
  v = g.init(jax.random.key(0), x, train=True)
  assert v["params"]["conv1"]["kernel"].shape == (3, 3, 8, 6)
  assert v["params"]["shortcut"]["kernel"].shape == (1, 1, 8, 6)
  assert v["batch_stats"]["conv1_sn"]["conv1/kernel/u"].shape == (1, 6)
  assert v["batch_stats"]["shortcut_sn"]["shortcut/kernel/u"].shape == (1, 6)
  y, new = g.apply(v, x, train=True, mutable=["batch_stats"])
  assert y.shape == (2, 8, 8, 6)
  assert not np.allclose(new["batch_stats"]["conv1_sn"]["conv1/kernel/u"],
                         v["batch_stats"]["conv1_sn"]["conv1/kernel/u"])   # power iteration ran
  d = DBlock(6, spectral_norm=True)
  vd = d.init(jax.random.key(0), x)
  assert vd["params"]["conv2"]["kernel"].shape == (3, 3, 6, 6)
  assert "conv2/kernel/u" in vd["batch_stats"]["conv2_sn"]
  assert d.apply(vd, x).shape == (2, 2, 2, 6)


def test_dblock_matches_numpy_transcription():
  """DBlock (no SN) against relu -> conv3x3 -> relu -> conv3x3 -> pool + pool(conv1x1(x))."""
  x = _rand(2, 8, 8, 3, seed=6)
  d = DBlock(4, spectral_norm=False, preactivation=True)
  v = d.init(jax.random.key(1), x)
  p = jax.tree.map(np.asarray, v["params"])
  relu = lambda a: np.maximum(a, 0)
  h = np_conv_same(relu(x), p["conv1"]["kernel"], p["conv1"]["bias"])
  h = np_pool(np_conv_same(relu(h), p["conv2"]["kernel"], p["conv2"]["bias"]))
  sc = np_pool(np_conv_same(x, p["shortcut"]["kernel"], p["shortcut"]["bias"]))
  np.testing.assert_allclose(np.asarray(d.apply(v, x)), h + sc, rtol=1e-4, atol=1e-5)
