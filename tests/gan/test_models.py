"""Per-paper model properties that the smoke runs cannot see: where SAGAN attends, BigGAN's
hierarchical z, StyleGAN2's style count and truncation, the Haar transform of StyleSwin's
discriminator, ViTGAN's improved spectral norm, block forms and conv decoder, R3GAN's fix-up
identity at init."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.train.param_paths import tree_paths


def _paths(tree):
  return set(jax.tree.leaves(tree_paths(tree)))


def test_sagan_attention_placement():
  from research.sagan.model import Discriminator, Generator
  g = Generator(image_size=32, channels=1, width=8, multipliers=(2, 2, 1), num_classes=10)
  d = Discriminator(width=8, multipliers=(1, 2, 2, 2), num_classes=10)
  z, y = jnp.zeros((2, 16)), jnp.zeros((2,), jnp.int32)
  gv = jax.eval_shape(lambda: g.init(jax.random.key(0), z, y))
  dv = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 32, 32, 1)), y))
  # G attends after its last (32x32) block, D after its first block (16x16).
  assert "attention2/gamma" in _paths(gv["params"])
  assert not any(p.startswith("attention0") or p.startswith("attention1")
                 for p in _paths(gv["params"]))
  assert "trunk/attention0/gamma" in _paths(dv["params"])
  assert "head/embed/embedding" in _paths(dv["params"])        # projection head


def test_biggan_every_z_chunk_and_the_class_reach_the_image():
  from research.biggan.model import Generator
  g = Generator(image_size=16, channels=1, width=8, multipliers=(2, 1), shared_dim=4,
                attention_resolution=8, num_classes=3)
  z = jax.random.normal(jax.random.key(0), (2, 12))              # 3 chunks of 4
  y = jnp.asarray([0, 2])
  v = jax.jit(g.init)(jax.random.key(1), z, y)
  apply = jax.jit(g.apply)
  grad = jax.jit(jax.grad(lambda z: jnp.sum(g.apply(v, z, y) ** 2)))(z)
  for k in range(3):
    assert float(jnp.abs(grad[:, 4 * k:4 * k + 4]).sum()) > 0
  assert float(jnp.abs(apply(v, z, y) - apply(v, z, jnp.asarray([1, 1]))).max()) > 0
  k = np.asarray(v["params"]["project"]["kernel"])                  # orthogonal init [4, 128]
  np.testing.assert_allclose(k @ k.T, np.eye(4), atol=1e-5)


def test_stylegan2_styles_and_truncation():
  from research.stylegan2.model import Generator, num_ws
  assert num_ws(32) == 8 and num_ws(16) == 6
  g = Generator(image_size=16, channels=1, width=8, w_dim=8, mapping_layers=2)
  z = jax.random.normal(jax.random.key(0), (4, 8))
  v = g.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, z)
  ws = g.apply(v, z, method="mapping")
  assert ws.shape == (4, 6, 8)
  # psi = 0: every z maps to w_avg, so with the same noise all images are equal.
  img = g.apply(v, z, truncation_psi=0.0, rngs={"noise": jax.random.key(3)})
  same_noise = g.apply(v, z[:1].repeat(4, 0), truncation_psi=1.0, rngs={"noise": jax.random.key(3)})
  assert float(jnp.abs(img - img[:1]).max()) < 1e-5
  assert float(jnp.abs(same_noise - img).max()) > 1e-4        # psi = 1 keeps z's own style
  # w_avg moves towards the batch mean of w when training.
  _, upd = g.apply(v, z, train=True, rngs={"noise": jax.random.key(4)}, mutable=["batch_stats"])
  np.testing.assert_allclose(np.asarray(upd["batch_stats"]["w_avg"]),
                             0.005 * np.asarray(ws[:, 0].mean(0)), rtol=1e-4, atol=1e-7)


def test_haar_dwt_matches_numpy_and_preserves_energy():
  from research.styleswin.model import haar_dwt
  x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
  out = np.asarray(haar_dwt(jnp.asarray(x)))
  a, b, c, d = x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]
  np.testing.assert_allclose(out[..., :3], (a + b + c + d) / 2, rtol=1e-6)
  np.testing.assert_allclose(out[..., 9:], (a - b - c + d) / 2, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose((out ** 2).sum(), (x ** 2).sum(), rtol=1e-5)   # orthonormal


def test_vitgan_discriminator_uses_improved_sn_and_overlapping_patches():
  from research.vitgan.model import Discriminator, Generator
  d = Discriminator(patch_size=4, overlap=2, hidden=16, depth=1, num_heads=2)
  v = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 16, 16, 1))))
  stats = _paths(v["batch_stats"])
  assert any(p.endswith("query_key/kernel/sigma_init") for p in stats)
  assert v["params"]["patch_embed"]["kernel"].shape == (8, 8, 1, 16)   # P + 2o = 8, stride 4
  assert "value" in str(stats) and not any("key/kernel" in p and "query" not in p for p in stats)
  g = Generator(image_size=16, channels=1, patch_size=4, hidden=16, depth=1, num_heads=2,
                w_dim=8, mapping_layers=1, inr_hidden=8, num_freqs=2)
  out, gv = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), jnp.zeros((2, 8))))
  assert out.shape == (2, 16, 16, 1)
  # as the official G: StyleGAN2's mapping (equalized fc) and spectral norm on the block maps
  assert "fc0" in gv["params"]["mapping_net"]
  gstats = _paths(gv["batch_stats"])
  for name in ("qkv", "proj", "fc1", "fc2"):
    assert any(f"block0/{name}" in p and p.endswith("sigma") for p in gstats), name
  plain = Generator(image_size=16, channels=1, patch_size=4, hidden=16, depth=1, num_heads=2,
                    w_dim=8, mapping_layers=1, inr_hidden=8, num_freqs=2, spectral_norm=False)
  pv = jax.eval_shape(lambda: plain.init(jax.random.key(0), jnp.zeros((2, 8))))
  assert "batch_stats" not in pv


def test_vitgan_block_residual_form():
  """With the branch outputs and the SLN's w-maps zeroed, the paper's pre-norm block passes h
  through unchanged, and the official form (residual from the SLN output) returns LN(LN(h)):
  every token at mean 0 and variance ~1."""
  from research.vitgan.model import GeneratorBlock
  h = jnp.asarray(np.random.default_rng(0).normal(2.0, 3.0, (2, 5, 8)), jnp.float32)
  w = jnp.asarray(np.random.default_rng(1).normal(size=(2, 4)), jnp.float32)
  outs = {}
  for official in (False, True):
    blk = GeneratorBlock(num_heads=2, spectral_norm=False, residual_from_sln=official)
    v = blk.init(jax.random.key(0), h, w)
    zero = lambda path, x: (jnp.zeros_like(x) if any(
        k in path for k in ("proj", "fc2", "gamma/kernel", "beta")) else x)
    v = jax.tree_util.tree_map_with_path(
        lambda kp, x: zero("/".join(str(getattr(k, "key", k)) for k in kp), x), v)
    outs[official] = np.asarray(blk.apply(v, h, w))
  np.testing.assert_allclose(outs[False], np.asarray(h), atol=1e-6)
  np.testing.assert_allclose(outs[True].mean(-1), 0.0, atol=1e-5)
  np.testing.assert_allclose(outs[True].var(-1), 1.0, atol=2e-3)       # LN epsilon 1e-3


def test_vitgan_conv_decoder_is_the_official_synthesis_stack():
  """decoder='conv' (official use_nerf_proj=False): the 8x8 token grid goes up 2x per stage
  through synthesis layers (up, then same-size) to the image, and the image is the tRGB of the
  last layer alone (no skips); noise strengths start at 0, so the init output does not
  depend on the noise draw, and turning one on makes it."""
  from research.vitgan.model import Generator
  g = Generator(image_size=32, channels=1, patch_size=4, hidden=16, depth=1, num_heads=2,
                w_dim=16, mapping_layers=1, spectral_norm=False, decoder="conv")
  z = jax.random.normal(jax.random.key(0), (2, 16))
  v = g.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, z)
  assert {"conv0_up", "conv0", "conv1_up", "conv1", "to_rgb"} <= set(v["params"])
  assert not {"inr_mod", "inr_out", "inr_bias"} & set(v["params"])
  out, inter = g.apply(v, z, rngs={"noise": jax.random.key(3)},
                       capture_intermediates=True, mutable=["intermediates"])
  inter = inter["intermediates"]
  shapes = [inter[k]["__call__"][0].shape[1] for k in ("conv0_up", "conv0", "conv1_up", "conv1")]
  assert shapes == [16, 16, 32, 32] and out.shape == (2, 32, 32, 1)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(inter["to_rgb"]["__call__"][0]))
  again = g.apply(v, z, rngs={"noise": jax.random.key(4)})
  np.testing.assert_array_equal(np.asarray(out), np.asarray(again))
  p = jax.tree_util.tree_map(lambda x: x, v["params"])
  p["conv1"]["noise"]["strength"] = jnp.asarray(0.5)
  a, b = (g.apply({**v, "params": p}, z, rngs={"noise": jax.random.key(k)}) for k in (3, 4))
  assert float(jnp.abs(a - b).max()) > 1e-3
  with pytest.raises(ValueError, match="patch_size=3"):
    Generator(image_size=24, channels=1, patch_size=3, hidden=16, depth=1, num_heads=2,
              w_dim=16, mapping_layers=1, decoder="conv").init(
                  {"params": jax.random.key(1), "noise": jax.random.key(2)}, z)


def test_r3gan_residual_blocks_are_identity_at_init():
  from research.r3gan.model import ResidualBlock
  blk = ResidualBlock(expansion=2, cardinality=2, num_blocks_total=4)
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 8))
  v = blk.init(jax.random.key(1), x)
  np.testing.assert_array_equal(np.asarray(blk.apply(v, x)), np.asarray(x))
  assert v["params"]["grouped"]["kernel"].shape == (3, 3, 8, 16)     # 2 groups of 8 -> 16


def test_r3gan_grouped_conv_as_dense_equals_feature_groups():
  from research.r3gan.model import GroupedConv
  x = jax.random.normal(jax.random.key(0), (2, 5, 5, 12))
  dense = GroupedConv(8, groups=4, as_dense=True)
  v = dense.init(jax.random.key(1), x)
  ref = GroupedConv(8, groups=4, as_dense=False).apply(v, x)
  np.testing.assert_allclose(np.asarray(dense.apply(v, x)), np.asarray(ref), rtol=1e-5, atol=1e-5)
