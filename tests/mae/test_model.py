"""MAE model pieces against numpy transcriptions of the paper / official code."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.mae import model as mae

P, S, C = 4, 16, 1          # patch 4 on 16x16: N = 16 patches
N = (S // P) ** 2
SMALL = dict(patch_size=P, channels=C, hidden_size=16, depth=1, num_heads=2, mlp_dim=32,
             decoder_hidden_size=16, decoder_depth=1, decoder_num_heads=2, decoder_mlp_dim=32)


def _images(b=3, seed=0, channels=C):
  return np.random.default_rng(seed).uniform(-1, 1, (b, S, S, channels)).astype(np.float32)


def _np_patchify(images, p):
  """Loop transcription: patch (i, j) in row-major order, pixels (row, col, channel)."""
  b, h, w, c = images.shape
  out = np.zeros((b, (h // p) * (w // p), p * p * c), np.float32)
  for i in range(h // p):
    for j in range(w // p):
      out[:, i * (w // p) + j] = images[:, i * p:(i + 1) * p, j * p:(j + 1) * p].reshape(b, -1)
  return out


def _np_mask(noise, keep):
  """mask[b, i] = 0 for the `keep` smallest noise values of row b, else 1."""
  mask = np.ones(noise.shape, np.float32)
  for b in range(noise.shape[0]):
    mask[b, np.argsort(noise[b])[:keep]] = 0
  return mask


def _np_norm_pix(patches):
  mean = patches.mean(-1, keepdims=True)
  var = ((patches - mean) ** 2).sum(-1, keepdims=True) / (patches.shape[-1] - 1)  # unbiased
  return (patches - mean) / np.sqrt(var + 1e-6)


def test_patchify_matches_loop_and_round_trips():
  x = _images(2, channels=3)
  got = np.asarray(mae.patchify(jnp.asarray(x), P))
  np.testing.assert_array_equal(got, _np_patchify(x, P))
  np.testing.assert_array_equal(np.asarray(mae.unpatchify(jnp.asarray(got), P, 3)), x)


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.3])
def test_masking_keeps_exactly_keep_tokens(ratio):
  noise = np.random.default_rng(1).uniform(size=(5, N)).astype(np.float32)
  keep = mae.num_kept(N, ratio)
  assert keep == int(N * (1 - ratio))
  ids_keep, mask, ids_restore = mae.random_masking(jnp.asarray(noise), keep)
  mask = np.asarray(mask)
  assert ids_keep.shape == (5, keep)
  np.testing.assert_array_equal(mask.sum(1), N - keep)          # N - keep removed per sample
  np.testing.assert_array_equal(mask, _np_mask(noise, keep))    # the smallest noise is kept
  for b in range(5):                                            # kept ids are the 0 positions
    assert set(np.asarray(ids_keep[b]).tolist()) == set(np.flatnonzero(mask[b] == 0).tolist())


def test_ids_restore_inverts_ids_shuffle():
  noise = jax.random.uniform(jax.random.key(2), (4, N))
  ids_shuffle = jnp.argsort(noise, axis=1)
  _, _, ids_restore = mae.random_masking(noise, 4)
  np.testing.assert_array_equal(np.asarray(jnp.take_along_axis(ids_shuffle, ids_restore, 1)),
                                np.tile(np.arange(N), (4, 1)))
  np.testing.assert_array_equal(np.asarray(jnp.take_along_axis(ids_restore, ids_shuffle, 1)),
                                np.tile(np.arange(N), (4, 1)))


def test_norm_pix_target_matches_numpy():
  patches = _np_patchify(_images(2, channels=3), P)
  np.testing.assert_allclose(np.asarray(mae.pixel_target(jnp.asarray(patches), True)),
                             _np_norm_pix(patches), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(mae.pixel_target(jnp.asarray(patches), False)),
                                patches)


def test_sincos_2d_closed_form():
  d, g = 16, 3
  emb = mae.sincos_2d(d, g)
  assert emb.shape == (1 + g * g, d)
  np.testing.assert_array_equal(emb[0], 0)                      # [class] position
  q = d // 4
  w = 1.0 / 10000 ** (np.arange(q) / q)
  for r in range(g):
    for col in range(g):                                        # col | row halves, sin | cos
      want = np.concatenate([np.sin(col * w), np.cos(col * w), np.sin(r * w), np.cos(r * w)])
      np.testing.assert_allclose(emb[1 + r * g + col], want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm_pix", [True, False])
def test_loss_is_numpy_masked_mse(norm_pix):
  model = mae.MAE(**SMALL, norm_pix_loss=norm_pix)
  x = _images(3)
  noise = np.random.default_rng(3).uniform(size=(3, N)).astype(np.float32)
  params = model.init(jax.random.key(0), x, noise=noise)["params"]
  out = model.apply({"params": params}, x, noise=noise)
  pred = np.asarray(out["pred"])
  target = _np_patchify(x, P)
  if norm_pix:
    target = _np_norm_pix(target)
  mask = _np_mask(noise, mae.num_kept(N, 0.75))
  per_patch = ((pred - target) ** 2).mean(-1)
  want = (per_patch * mask).sum() / mask.sum()                  # removed patches only
  np.testing.assert_allclose(float(out["loss"]), want, rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(out["mask"]), mask)
  # the visible patches carry no loss: d loss / d pred is 0 there and nonzero on masked ones
  g = np.asarray(jax.grad(lambda p: mae.masked_mse(p, jnp.asarray(target), jnp.asarray(mask)))(
      jnp.asarray(pred)))
  assert np.all(g[mask == 0] == 0) and np.all(np.abs(g[mask == 1]).sum(-1) > 0)


def test_mask_ratio_zero_is_mse_over_every_patch():
  model = mae.MAE(**SMALL, mask_ratio=0.0, norm_pix_loss=False)
  x = _images(2)
  noise = np.random.default_rng(4).uniform(size=(2, N)).astype(np.float32)
  params = model.init(jax.random.key(0), x, noise=noise)["params"]
  out = model.apply({"params": params}, x, noise=noise)
  want = ((np.asarray(out["pred"]) - _np_patchify(x, P)) ** 2).mean()
  np.testing.assert_allclose(float(out["loss"]), want, rtol=1e-5)


def test_encoder_never_sees_masked_patches():
  model = mae.MAE(**SMALL)
  x = _images(2)
  noise = np.random.default_rng(5).uniform(size=(2, N)).astype(np.float32)
  params = model.init(jax.random.key(0), x, noise=noise)["params"]
  keep = mae.num_kept(N, 0.75)
  ids_keep, mask, _ = mae.random_masking(jnp.asarray(noise), keep)
  encoder = mae.MaeEncoder(P, 16, 1, 2, 32)
  latent = lambda im: np.asarray(encoder.apply({"params": params["encoder"]}, im, ids_keep))
  base = latent(x)
  mask_img = np.asarray(mae.unpatchify(jnp.broadcast_to(mask[..., None], (2, N, P * P)), P, 1))
  perturbed = x + 5.0 * mask_img * np.random.default_rng(6).normal(size=x.shape)
  np.testing.assert_array_equal(latent(perturbed.astype(np.float32)), base)
  # the control: the same perturbation on a visible patch changes the encoder output
  visible = x + 5.0 * (1 - mask_img) * np.random.default_rng(6).normal(size=x.shape)
  assert np.abs(latent(visible.astype(np.float32)) - base).max() > 1e-3
  assert base.shape == (2, 1 + keep, 16)                       # [class] + visible tokens


def test_features_see_every_token():
  model = mae.MAE(**SMALL)
  x = _images(2)
  params = model.init({"params": jax.random.key(0), "masking": jax.random.key(1)}, x)["params"]
  feats = model.apply({"params": params}, x, method=model.features)
  assert feats.shape == (2, 1 + N, 16)


def test_scan_and_remat_give_the_unrolled_loss():
  from lib.nn.transformer import stack_blocks
  kw = dict(SMALL, depth=2, decoder_depth=2)
  x = _images(2)
  noise = np.random.default_rng(7).uniform(size=(2, N)).astype(np.float32)
  plain = mae.MAE(**kw)
  params = plain.init(jax.random.key(0), x, noise=noise)["params"]
  want = float(plain.apply({"params": params}, x, noise=noise)["loss"])
  stacked = {"encoder": stack_blocks(params["encoder"], 2),
             "decoder": stack_blocks(params["decoder"], 2, prefix="decoder_block")}
  scanned = mae.MAE(**kw, scan_layers=True, remat=True)
  got = float(scanned.apply({"params": stacked}, x, noise=noise)["loss"])
  np.testing.assert_allclose(got, want, rtol=1e-5)
