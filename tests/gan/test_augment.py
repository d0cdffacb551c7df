"""DiffAugment and ADA: numpy references for the simple ops, exact invariants for the
pipeline (p = 0 is the identity, p = 1 flips / rotates by exact symmetries), gradients
flow through, and ADA's p moves towards the target r_t."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.tasks import gan_augment as A


def images(b=6, h=8, w=8, c=3, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (b, h, w, c)), jnp.float32)


def test_translation_is_a_zero_padded_shift():
  x = images()
  out = np.asarray(A.diffaugment(x, jax.random.key(1), "translation"))
  xn = np.asarray(x)
  for i in range(x.shape[0]):
    found = False
    for ty in range(-1, 2):                           # int(8 * 0.125 + 0.5) = 1 pixel at most
      for tx in range(-1, 2):
        ref = np.zeros_like(xn[i])
        for r in range(8):
          for c in range(8):
            if 0 <= r + ty < 8 and 0 <= c + tx < 8:
              ref[r, c] = xn[i, r + ty, c + tx]
        found |= np.array_equal(ref, out[i])
    assert found, f"sample {i} is not a shift of its input"


def test_cutout_zeroes_one_square_of_half_size():
  x = images(b=8, h=16, w=16) * 0 + 1.0
  out = np.asarray(A.diffaugment(x, jax.random.key(2), "cutout"))
  for i in range(8):
    rows = np.where((out[i, :, :, 0] == 0).any(1))[0]
    cols = np.where((out[i, :, :, 0] == 0).any(0))[0]
    zero = (out[i, :, :, 0] == 0).sum()
    assert zero == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8 and zero > 0
    assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)   # one contiguous square


def test_color_keeps_shape_and_gray_saturation():
  """Saturation of a gray (1-channel) image is the identity; brightness and contrast are
  affine per sample: out = a x + c."""
  x = images(c=1)
  out = A.diffaugment(x, jax.random.key(3), "color")
  xn, on = np.asarray(x).reshape(6, -1), np.asarray(out).reshape(6, -1)
  for i in range(6):
    a, c = np.polyfit(xn[i], on[i], 1)
    np.testing.assert_allclose(on[i], a * xn[i] + c, atol=1e-5)
    assert 0.5 - 1e-6 <= a <= 1.5 + 1e-6


def test_ada_p_zero_is_identity_and_p_one_changes_everything():
  x = images()
  np.testing.assert_allclose(np.asarray(A.ada_augment(x, jax.random.key(0), 0.0)),
                             np.asarray(x), atol=1e-5)
  out = np.asarray(A.ada_augment(x, jax.random.key(0), 1.0))
  assert np.all(np.abs(out - np.asarray(x)).reshape(6, -1).max(1) > 1e-2)


def test_ada_exact_symmetries():
  x = images(b=16, h=6, w=6)
  xn = np.asarray(x)
  flip = np.asarray(A.ada_augment(x, jax.random.key(4), 1.0, "xflip"))
  rot = np.asarray(A.ada_augment(x, jax.random.key(5), 1.0, "rotate90"))
  n_flipped = 0
  for i in range(16):
    is_id = np.allclose(flip[i], xn[i], atol=1e-5)
    is_flip = np.allclose(flip[i], xn[i, :, ::-1], atol=1e-5)
    assert is_id or is_flip
    n_flipped += is_flip
    assert any(np.allclose(rot[i], np.rot90(xn[i], k, axes=(0, 1)), atol=1e-5) for k in range(4))
  assert 0 < n_flipped < 16


def test_ada_gradients_flow_to_the_input():
  x = images()
  for kind in ("ada", "diffaugment"):
    g = jax.grad(lambda v: jnp.sum(A.augment(v, jax.random.key(6), kind, 0.8) ** 2))(x)
    assert float(jnp.mean(jnp.abs(g))) > 1e-3


@pytest.mark.parametrize("r_t,direction", [(0.9, 1.0), (0.2, -1.0)])
def test_ada_adjust_moves_p_towards_target(r_t, direction):
  count = 64.0
  p, measured = A.ada_adjust(jnp.asarray(0.5), jnp.asarray(r_t * count), count, 0.6, 500.0)
  np.testing.assert_allclose(float(measured), r_t, rtol=1e-6)
  np.testing.assert_allclose(float(p), 0.5 + direction * count / 500e3, rtol=1e-6)
  p0, _ = A.ada_adjust(jnp.asarray(0.0), jnp.asarray(-count), count, 0.6, 500.0)
  assert float(p0) == 0.0                                                 # clipped at 0


def test_ada_counts_one_sign_per_image_whatever_the_logits_per_image():
  """ADA's r_t is a mean over images: a D with N logits per image (Projected GAN's [B, N])
  adds each image's mean sign, so r_t stays in [-1, 1] (a plain sum would count N per image)."""
  logits = np.array([[3.0, -1.0, 2.0, 5.0], [-2.0, -1.0, -4.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
  expected = np.mean(np.sign(logits), axis=1).sum()                     # 0.5 - 0.5 + 1 = 1
  assert float(A.real_sign_sum(jnp.asarray(logits))) == expected == 1.0
  assert float(A.real_sign_sum(jnp.asarray([2.0, -3.0, 1.0]))) == 1.0    # [B]: the plain sum
