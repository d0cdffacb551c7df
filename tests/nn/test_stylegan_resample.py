"""The `resample` switch of the StyleGAN2 layers: 'fir' (official upfirdn2d) against the
earlier approximation ('bilinear' up, 'avg' down), checked against numpy transcriptions:
bilinear 2x is the [1, 3, 3, 1] filter in the interior and edge-clamped at the border;
'avg' down is the 2x2 mean followed by a zero-padded correlation; both settings share one
parameter tree (a checkpoint loads under either)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.nn import modulated_conv as M
from lib.nn import stylegan_blocks as B
from research.stylegan2 import model as sg2


def ref_bilinear_up2x(x):
  """Half-pixel bilinear 2x, edge-clamped: out[2i] = .75 x[i] + .25 x[i-1], out[2i+1] =
  .75 x[i] + .25 x[i+1] per axis, indices clamped to the image."""
  def axis(a, ax):
    n = a.shape[ax]
    prev = np.take(a, np.clip(np.arange(n) - 1, 0, n - 1), axis=ax)
    nxt = np.take(a, np.clip(np.arange(n) + 1, 0, n - 1), axis=ax)
    even, odd = 0.75 * a + 0.25 * prev, 0.75 * a + 0.25 * nxt
    return np.stack([even, odd], ax + 1).reshape(a.shape[:ax] + (2 * n,) + a.shape[ax + 1:])
  return axis(axis(np.asarray(x, np.float64), 1), 2)


def ref_correlate_same(x, k):
  """Zero-padded 'SAME' correlation, x [B, H, W, I], k [kh, kw, I, O] (odd kh, kw)."""
  kh, kw = k.shape[:2]
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  out = np.zeros(x.shape[:3] + (k.shape[-1],))
  for a in range(kh):
    for b in range(kw):
      out += np.einsum("bhwi,io->bhwo", xp[:, a:a + x.shape[1], b:b + x.shape[2]], k[a, b])
  return out


def test_bilinear_up2x_matches_numpy_and_fir_in_the_interior():
  x = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype(np.float32)
  got = np.asarray(B.upsample2x(jnp.asarray(x), "bilinear"))
  np.testing.assert_allclose(got, ref_bilinear_up2x(x), atol=1e-5)
  fir = np.asarray(B.upsample2x(jnp.asarray(x), "fir"))
  np.testing.assert_allclose(got[:, 1:-1, 1:-1], fir[:, 1:-1, 1:-1], atol=1e-5)
  assert np.abs(got[:, 0] - fir[:, 0]).max() > 0.1        # FIR sees zeros past the border


def test_modulated_conv_bilinear_up_is_resize_then_conv():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
  w = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
  s = rng.uniform(0.5, 1.5, size=(2, 3)).astype(np.float32)
  got = np.asarray(M.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), up=2,
                                      resample="bilinear"))
  y = ref_correlate_same(ref_bilinear_up2x(x * s[:, None, None, :]), w)
  d = 1.0 / np.sqrt(np.einsum("hwio,bi->bo", w.astype(np.float64) ** 2, s ** 2) + 1e-8)
  np.testing.assert_allclose(got, y * d[:, None, None, :], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_equalized_conv_avg_down_is_mean_then_conv(k):
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
  layer = M.EqualizedConv2D(4, k, down=2, resample="avg")
  params = layer.init(jax.random.key(0), jnp.asarray(x))
  got = np.asarray(layer.apply(params, jnp.asarray(x)))
  kernel = np.asarray(params["params"]["kernel"], np.float64) / np.sqrt(k * k * 3)
  pooled = x.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
  np.testing.assert_allclose(got, ref_correlate_same(pooled, kernel), rtol=1e-4, atol=1e-5)


def test_both_settings_share_parameters_and_differ_in_output():
  x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 16, 16, 1)), jnp.float32)
  z = jax.random.normal(jax.random.key(1), (4, 8))
  outs = {}
  for g_res, d_res in (("fir", "fir"), ("bilinear", "avg")):
    G = sg2.Generator(image_size=16, channels=1, width=8, w_dim=8, mapping_layers=2,
                      resample=g_res)
    D = sg2.Discriminator(width=8, resample=d_res)
    rngs = {"params": jax.random.key(0), "noise": jax.random.key(2)}
    vg = G.init(rngs, z)
    vd = D.init(jax.random.key(0), x)
    outs[g_res] = (jax.tree.map(jnp.shape, vg), jax.tree.map(jnp.shape, vd),
                   G.apply(vg, z, rngs={"noise": jax.random.key(2)}), D.apply(vd, x)[0])
  (sg_f, sd_f, img_f, lo_f), (sg_b, sd_b, img_b, lo_b) = outs["fir"], outs["bilinear"]
  assert sg_f == sg_b and sd_f == sd_b
  assert img_f.shape == img_b.shape == (4, 16, 16, 1)
  assert float(jnp.abs(img_f - img_b).max()) > 1e-3
  assert float(jnp.abs(lo_f - lo_b).max()) > 1e-4


def test_unknown_resample_is_named():
  x = jnp.zeros((1, 8, 8, 2))
  with pytest.raises(ValueError, match="resample='nearest'.*fir"):
    M.EqualizedConv2D(2, 3, down=2, resample="nearest").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="resample='avg'.*bilinear"):
    B.upsample2x(x, "avg")


def test_r3gan_discriminator_resample_keeps_the_official_path_and_parameters():
  from lib.nn.upfirdn import downsample2d
  from research.r3gan import model as r3
  x = jnp.asarray(np.random.default_rng(4).normal(size=(3, 8, 8, 4)), jnp.float32)
  np.testing.assert_allclose(np.asarray(B.downsample2x(x, "fir")),          # the default path
                             np.asarray(downsample2d(x, r3.RESAMPLE_FILTER)), atol=1e-6)
  mean = np.asarray(x).reshape(3, 4, 2, 4, 2, 4).mean((2, 4))
  np.testing.assert_allclose(np.asarray(B.downsample2x(x, "avg")), mean, atol=1e-6)
  img = jnp.asarray(np.random.default_rng(5).normal(size=(2, 16, 16, 1)), jnp.float32)
  outs = {}
  for res in ("fir", "avg"):
    D = r3.Discriminator(widths=(4, 4, 8), blocks_per_stage=1, cardinality=2, resample=res)
    v = D.init(jax.random.key(0), img)
    # fix-up init zeroes each branch's last conv: perturb so the blocks do something
    v = jax.tree.map(lambda p: p + 0.1 * jnp.ones_like(p), v)
    outs[res] = (jax.tree.map(jnp.shape, v), D.apply(v, img)[0])
  assert outs["fir"][0] == outs["avg"][0]
  assert float(jnp.abs(outs["fir"][1] - outs["avg"][1]).max()) > 1e-4
