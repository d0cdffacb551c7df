"""StyleGAN2 modulated convolution against a numpy transcription of Eq. 1 and Eq. 3, and the
property demodulation exists for: unit-variance inputs give unit-variance outputs."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.nn.modulated_conv import ModulatedConv2D, NoiseInjection, modulated_conv2d


def numpy_modconv(x, weight, styles, demodulate, eps=1e-8):
  """Per-sample weights w''_ijk = s_i w_ijk / sqrt(sum (s_i w_ijk)^2 + eps), 'SAME' conv."""
  b, h, w, cin = x.shape
  kh, kw, _, cout = weight.shape
  out = np.zeros((b, h, w, cout))
  xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  for n in range(b):
    wn = weight * styles[n][None, None, :, None]                       # Eq. 1
    if demodulate:
      wn = wn / np.sqrt((wn ** 2).sum(axis=(0, 1, 2), keepdims=True) + eps)  # Eq. 3
    for i in range(h):
      for j in range(w):
        out[n, i, j] = np.einsum("abc,abcd->d", xp[n, i:i + kh, j:j + kw], wn)
  return out


def test_fused_and_unfused_match_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
  weight = rng.normal(size=(3, 3, 4, 7)).astype(np.float32)
  styles = rng.uniform(0.2, 2.0, size=(3, 4)).astype(np.float32)
  for demod in (True, False):
    ref = numpy_modconv(x, weight, styles, demod)
    for fused in (True, False):
      out = modulated_conv2d(jnp.asarray(x), jnp.asarray(weight), jnp.asarray(styles),
                             demodulate=demod, fused=fused)
      np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-4)


def test_demodulation_keeps_unit_variance():
  """For i.i.d. unit-variance inputs, Var(y_j) = sum_{i,k} w''_ijk^2 = 1 whatever the styles
  and the weight scale; without demodulation the variance follows the styles."""
  key = jax.random.key(1)
  kx, kw, ks = jax.random.split(key, 3)
  x = jax.random.normal(kx, (8, 32, 32, 32))
  weight = 3.0 * jax.random.normal(kw, (3, 3, 32, 16))
  styles = jnp.exp(jax.random.normal(ks, (8, 32)))           # log-normal styles, far from 1
  y = modulated_conv2d(x, weight, styles, demodulate=True)
  var = np.asarray(jnp.var(y[:, 1:-1, 1:-1], axis=(1, 2)))   # interior (no zero padding)
  assert abs(var.mean() - 1.0) < 0.03          # 128 maps of 900 correlated pixels each
  np.testing.assert_allclose(var, 1.0, atol=0.25)
  y_raw = modulated_conv2d(x, weight, styles, demodulate=False)
  assert float(jnp.min(jnp.var(y_raw[:, 1:-1, 1:-1], axis=(1, 2)))) > 5.0


def test_module_unit_variance_and_noise():
  x = jax.random.normal(jax.random.key(2), (4, 16, 16, 24))
  w = jax.random.normal(jax.random.key(3), (4, 12))
  layer = ModulatedConv2D(8)
  params = layer.init(jax.random.key(4), x, w)
  y = layer.apply(params, x, w)
  assert y.shape == (4, 16, 16, 8)
  assert abs(float(jnp.mean(jnp.var(y[:, 1:-1, 1:-1], axis=(1, 2)))) - 1.0) < 0.05
  noise = NoiseInjection()
  v = noise.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, y)
  np.testing.assert_array_equal(noise.apply(v, y, rngs={"noise": jax.random.key(5)}), y)  # 0 init
  v = {"params": {"strength": jnp.asarray(0.5)}}
  out = noise.apply(v, y, rngs={"noise": jax.random.key(5)})
  n = (out - y) / 0.5
  np.testing.assert_allclose(np.asarray(n[..., 0]), np.asarray(n[..., 7]), atol=1e-5)  # one map
  assert abs(float(jnp.std(n)) - 1.0) < 0.05
