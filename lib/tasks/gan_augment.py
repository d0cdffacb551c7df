"""Differentiable augmentations applied to every image the discriminator sees (real and
generated, in the D and the G steps), so that G receives gradients through them.

- DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training", Sec. 3 and official code): policy 'color,translation,cutout'; color =
  brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5); translation by up
  to 1/8 of the image with zero padding; cutout of a square half the image size.
- ADA (Karras et al. 2020, "Training GANs with Limited Data", Sec. 2.2 and App. B): each
  transformation is applied per sample with probability p; geometric ones (xflip, rotate90,
  integer translation, isotropic scale, rotation, anisotropic scale, fractional translation)
  are composed into one affine map sampled bilinearly with reflection padding, color ones
  (brightness, contrast, luma flip, hue rotation, saturation) into one 4x4 color matrix;
  optional cutout. p adapts with the overfitting heuristic r_t = E[sign(D(x_real))]
  (Eq. 1 of the ADA paper): p += sign(r_t - target) * N / (ada_kimg * 1000) every interval.
  Deviation: no wavelet anti-aliasing filter around the geometric warp (official code
  upsamples with a symmetric wavelet before warping).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

ADA_OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
           "brightness", "contrast", "lumaflip", "hue", "saturation", "cutout")
ADA_BGC = ",".join(ADA_OPS[:-1])     # the official 'bgc' pipeline


# --- DiffAugment -----------------------------------------------------------------------------

def _translation(x, rng, ratio: float = 0.125):
  b, h, w, _ = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(rng)
  ty = jax.random.randint(ky, (b, 1, 1), -sh, sh + 1)
  tx = jax.random.randint(kx, (b, 1, 1), -sw, sw + 1)
  yy = jnp.arange(h)[None, :, None] + ty                                # source row per pixel
  xx = jnp.arange(w)[None, None, :] + tx
  valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
  bi = jnp.arange(b)[:, None, None]
  out = x[bi, jnp.clip(yy, 0, h - 1), jnp.clip(xx, 0, w - 1)]
  return jnp.where(valid[..., None], out, 0.0)


def _cutout(x, rng, ratio: float = 0.5):
  b, h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(rng)
  oy = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - ch % 2))
  ox = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - cw % 2))
  yy = jnp.arange(h)[None, :, None] - (oy - ch // 2)
  xx = jnp.arange(w)[None, None, :] - (ox - cw // 2)
  inside = (yy >= 0) & (yy < ch) & (xx >= 0) & (xx < cw)
  return jnp.where(inside[..., None], 0.0, x)


def diffaugment(x, rng, policy: str = "color,translation,cutout"):
  """DiffAugment T(x) for x [B, H, W, C] in [-1, 1]."""
  b = x.shape[0]
  keys = iter(jax.random.split(rng, 8))
  for op in [p for p in policy.split(",") if p]:
    if op == "color":
      x = x + (jax.random.uniform(next(keys), (b, 1, 1, 1), x.dtype) - 0.5)         # brightness
      m = jnp.mean(x, axis=-1, keepdims=True)
      x = (x - m) * (jax.random.uniform(next(keys), (b, 1, 1, 1), x.dtype) * 2) + m  # saturation
      m = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
      x = (x - m) * (jax.random.uniform(next(keys), (b, 1, 1, 1), x.dtype) + 0.5) + m  # contrast
    elif op == "translation":
      x = _translation(x, next(keys))
    elif op == "cutout":
      x = _cutout(x, next(keys))
    else:
      raise ValueError(f"DiffAugment policy {policy!r}: unknown op {op!r} "
                       "(use color, translation, cutout)")
  return x


# --- ADA -------------------------------------------------------------------------------------

def _eye(b, n):
  return jnp.broadcast_to(jnp.eye(n), (b, n, n))


def _mat3(a, b_, c, d, e, f):
  """Batch of [[a, b, c], [d, e, f], [0, 0, 1]] from [B] entries."""
  z, o = jnp.zeros_like(a), jnp.ones_like(a)
  return jnp.stack([jnp.stack([a, b_, c], -1), jnp.stack([d, e, f], -1),
                    jnp.stack([z, z, o], -1)], -2)


def _scale2d(sx, sy):
  z = jnp.zeros_like(sx)
  return _mat3(sx, z, z, z, sy, z)


def _translate2d(tx, ty):
  o, z = jnp.ones_like(tx), jnp.zeros_like(tx)
  return _mat3(o, z, tx, z, o, ty)


def _rotate2d(theta):
  c, s, z = jnp.cos(theta), jnp.sin(theta), jnp.zeros_like(theta)
  return _mat3(c, -s, z, s, c, z)


def _warp(x, m):
  """Bilinear resampling of x [B, H, W, C] at source = m @ (centered output coords), with
  reflection padding ('mirror', i.e. PyTorch's 'reflect')."""
  b, h, w, c = x.shape
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  q = jnp.stack([xs - cx, ys - cy, jnp.ones_like(xs)], 0).reshape(3, -1)     # [3, HW]
  src = jnp.einsum("bij,jn->bin", m, q)
  sx, sy = src[:, 0] + cx, src[:, 1] + cy                                    # [B, HW]

  def one(img, yy, xx):
    return jax.vmap(lambda ch: jax.scipy.ndimage.map_coordinates(
        ch, [yy, xx], order=1, mode="mirror"), in_axes=-1, out_axes=-1)(img)

  return jax.vmap(one)(x, sy, sx).reshape(b, h, w, c)


def ada_augment(x, rng, p, policy: str = ADA_BGC):
  """ADA's pipeline at probability p (a traced scalar) for x [B, H, W, C] in [-1, 1]."""
  ops = [o for o in policy.split(",") if o]
  unknown = set(ops) - set(ADA_OPS)
  if unknown:
    raise ValueError(f"ADA policy {policy!r}: unknown ops {sorted(unknown)}; known {ADA_OPS}")
  b, h, w, c = x.shape
  keys = iter(jax.random.split(rng, 32))
  p = jnp.asarray(p, jnp.float32)
  ident3 = _eye(b, 3)
  m = ident3
  gate3 = lambda val, prob: jnp.where(                    # per sample: val with probability prob
      (jax.random.uniform(next(keys), (b,)) < prob)[:, None, None], val, ident3)
  if "xflip" in ops:
    i = jax.random.randint(next(keys), (b,), 0, 2).astype(jnp.float32)
    m = gate3(_scale2d(1 - 2 * i, jnp.ones((b,))), p) @ m
  if "rotate90" in ops:
    i = jax.random.randint(next(keys), (b,), 0, 4).astype(jnp.float32)
    m = gate3(_rotate2d(-jnp.pi / 2 * i), p) @ m
  if "xint" in ops:
    t = (jax.random.uniform(next(keys), (b, 2)) * 2 - 1) * 0.125
    m = gate3(_translate2d(jnp.round(t[:, 0] * w), jnp.round(t[:, 1] * h)), p) @ m
  if "scale" in ops:
    s = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.2)
    m = gate3(_scale2d(s, s), p) @ m
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0, 1))      # P(pre or post rotation) = p
  if "rotate" in ops:
    theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
    m = gate3(_rotate2d(-theta), p_rot) @ m
  if "aniso" in ops:
    s = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.2)
    m = gate3(_scale2d(s, 1 / s), p) @ m
  if "rotate" in ops:
    theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
    m = gate3(_rotate2d(-theta), p_rot) @ m
  if "xfrac" in ops:
    t = jax.random.normal(next(keys), (b, 2)) * 0.125
    m = gate3(_translate2d(t[:, 0] * w, t[:, 1] * h), p) @ m
  if any(o in ops for o in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")):
    x = _warp(x, m)

  color_ops = [o for o in ("brightness", "contrast", "lumaflip", "hue", "saturation") if o in ops]
  if color_ops:
    ident4 = _eye(b, 4)
    gate4 = lambda val: jnp.where((jax.random.uniform(next(keys), (b,)) < p)[:, None, None],
                                  val, ident4)
    v = jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
    vv = jnp.outer(v, v)
    cm = ident4
    if "brightness" in ops:
      t = jax.random.normal(next(keys), (b,)) * 0.2
      cm = gate4(ident4.at[:, :3, 3].set(t[:, None])) @ cm
    if "contrast" in ops:
      s = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.5)
      cm = gate4(ident4 * jnp.concatenate([jnp.broadcast_to(s[:, None], (b, 3)),
                                           jnp.ones((b, 1))], -1)[:, None, :]) @ cm
    if "lumaflip" in ops:
      i = jax.random.randint(next(keys), (b,), 0, 2).astype(jnp.float32)
      cm = gate4(ident4 - 2 * vv[None] * i[:, None, None]) @ cm
    if "hue" in ops:
      theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
      a = v[:3]
      cross = jnp.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
      cs, sn = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
      r3 = cs * jnp.eye(3) + sn * cross + (1 - cs) * jnp.outer(a, a)           # Rodrigues
      cm = gate4(ident4.at[:, :3, :3].set(r3)) @ cm
    if "saturation" in ops:
      s = jnp.exp2(jax.random.normal(next(keys), (b,)))
      cm = gate4(vv[None] + (jnp.eye(4)[None] - vv[None]) * s[:, None, None]) @ cm
    if c == 3:
      x = jnp.einsum("bij,bhwj->bhwi", cm[:, :3, :3], x) + cm[:, None, None, :3, 3]
    elif c == 1:
      row = jnp.mean(cm[:, :3, :], axis=1)                                       # [B, 4]
      x = x * jnp.sum(row[:, :3], -1)[:, None, None, None] + row[:, 3][:, None, None, None]
    else:
      raise ValueError(f"ADA color transforms need 1 or 3 channels, got {c}")

  if "cutout" in ops:
    center = jax.random.uniform(next(keys), (b, 2))
    yy = (jnp.arange(h) + 0.5) / h
    xx = (jnp.arange(w) + 0.5) / w
    keep = ((jnp.abs(xx[None, None, :] - center[:, 0, None, None]) >= 0.25)
            | (jnp.abs(yy[None, :, None] - center[:, 1, None, None]) >= 0.25))
    on = (jax.random.uniform(next(keys), (b,)) < p)[:, None, None]
    x = jnp.where((keep | ~on)[..., None], x, 0.0)
  return x


def ada_adjust(p, sign_sum, count, target: float, ada_kimg: float):
  """One ADA update of p from sum(sign(D(x_real))) over `count` reals (r_t = mean sign)."""
  r_t = sign_sum / jnp.maximum(count, 1.0)
  return jnp.clip(p + jnp.sign(r_t - target) * count / (ada_kimg * 1000.0), 0.0, 1.0), r_t


def augment(x, rng, kind: str, p=0.0, policy: str = ""):
  """Dispatch on config.gan.augment: 'none' | 'diffaugment' | 'ada'."""
  if kind == "none":
    return x
  if kind == "diffaugment":
    return diffaugment(x, rng, policy or "color,translation,cutout")
  if kind == "ada":
    return ada_augment(x, rng, p, policy or ADA_BGC)
  raise ValueError(f"config.gan.augment={kind!r}: use none, diffaugment or ada")
