"""Differentiable augmentations applied to every image the discriminator sees (real and
generated, in the D and the G steps), so that G receives gradients through them.

- DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training", Sec. 3 and official code): policy 'color,translation,cutout', applied in the
  order written (DiffAugment_pytorch.py loops over policy.split(',')); color =
  brightness +U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5); translation by up
  to 1/8 of the image with zero padding; cutout of a square half the image size.
- ADA (Karras et al. 2020, "Training GANs with Limited Data", Sec. 2.2 and App. B): each
  transformation is applied per sample with probability p; geometric ones (xflip, rotate90,
  integer translation, isotropic scale, rotation, anisotropic scale, fractional translation)
  are composed into one inverse affine map in the official order (augment.py: G_inv = G_inv
  @ T_inv for each in turn) sampled bilinearly with reflection padding, color ones
  (brightness, contrast, luma flip, hue rotation, saturation) into one 4x4 color matrix
  (C = T @ C, as the official code); optional cutout. Each op's probability is p times its
  multiplier from the policy ('op=multiplier', default 1; the official AugmentPipe's
  per-op multipliers). p adapts with the overfitting heuristic r_t = E[sign(D(x_real))]
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


DIFFAUGMENT_OPS = ("color", "translation", "cutout")


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
                       f"(use {', '.join(DIFFAUGMENT_OPS)})")
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


def parse_ada_policy(policy: str) -> dict:
  """'op,op=multiplier,...' -> {op: multiplier}: each op runs with probability
  p * multiplier, like the per-op multipliers of the official AugmentPipe (e.g. R3GAN's
  'xflip,rotate90,xint,scale,rotate,aniso,xfrac,brightness=0.5,contrast=0.5,lumaflip=0.5,
  hue=0.5,saturation=0.5,cutout'). A bare op has multiplier 1."""
  mults = {}
  for item in [o.strip() for o in policy.split(",") if o.strip()]:
    name, _, value = item.partition("=")
    name = name.strip()
    if name not in ADA_OPS:
      raise ValueError(f"ADA policy {policy!r}: unknown op {name!r}; known {ADA_OPS} "
                       "(write op or op=multiplier)")
    try:
      mults[name] = float(value) if value else 1.0
    except ValueError:
      raise ValueError(f"ADA policy {policy!r}: multiplier of {name!r} must be a number, "
                       f"got {value!r}") from None
  return mults


# Inverse 2-D transforms (output pixel -> input pixel), as augment.py's *_inv helpers.
def _scale2d_inv(sx, sy):
  return _scale2d(1 / sx, 1 / sy)


def _translate2d_inv(tx, ty):
  return _translate2d(-tx, -ty)


def _rotate2d_inv(theta):
  return _rotate2d(-theta)


def ada_geometric(rng, b: int, h: int, w: int, p, mults: dict):
  """G_inv [B, 3, 3] (centered output pixel -> input pixel) and the drawn parameters.

  In augment.py's order, each transformation's inverse right-multiplied:
  G_inv = G_inv @ T_inv, for xflip, rotate90, xint, scale, pre-rotation, aniso,
  post-rotation, xfrac (so the first one drawn acts last on the pixels' source
  coordinates, i.e. first on the image). Each is gated per sample with probability
  p * multiplier (rotations: 1 - sqrt(1 - p * mult) each, so either happens with p * mult)."""
  keys = iter(jax.random.split(rng, 24))
  p = jnp.asarray(p, jnp.float32)
  on = lambda op, prob=None: (jax.random.uniform(next(keys), (b,))
                              < (p * mults[op] if prob is None else prob))
  g_inv = _eye(b, 3)
  draws = {}
  if "xflip" in mults:
    i = jnp.floor(jax.random.uniform(next(keys), (b,)) * 2)
    i = draws["xflip"] = jnp.where(on("xflip"), i, 0.0)
    g_inv = g_inv @ _scale2d_inv(1 - 2 * i, jnp.ones((b,)))
  if "rotate90" in mults:
    i = jnp.floor(jax.random.uniform(next(keys), (b,)) * 4)
    i = draws["rotate90"] = jnp.where(on("rotate90"), i, 0.0)
    g_inv = g_inv @ _rotate2d_inv(-jnp.pi / 2 * i)
  if "xint" in mults:
    t = (jax.random.uniform(next(keys), (b, 2)) * 2 - 1) * 0.125
    t = jnp.where(on("xint")[:, None], t, 0.0)
    t = draws["xint"] = jnp.stack([jnp.round(t[:, 0] * w), jnp.round(t[:, 1] * h)], -1)
    g_inv = g_inv @ _translate2d_inv(t[:, 0], t[:, 1])
  if "scale" in mults:
    s_ = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.2)
    s_ = draws["scale"] = jnp.where(on("scale"), s_, 1.0)
    g_inv = g_inv @ _scale2d_inv(s_, s_)
  if "rotate" in mults:
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - p * mults["rotate"], 0, 1))   # P(pre or post) = p
    theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
    theta = draws["rotate_pre"] = jnp.where(on("rotate", p_rot), theta, 0.0)
    g_inv = g_inv @ _rotate2d_inv(-theta)                            # before aniso
  if "aniso" in mults:
    s_ = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.2)
    s_ = draws["aniso"] = jnp.where(on("aniso"), s_, 1.0)
    g_inv = g_inv @ _scale2d_inv(s_, 1 / s_)
  if "rotate" in mults:
    theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
    theta = draws["rotate_post"] = jnp.where(on("rotate", p_rot), theta, 0.0)
    g_inv = g_inv @ _rotate2d_inv(-theta)                            # after aniso
  if "xfrac" in mults:
    t = jax.random.normal(next(keys), (b, 2)) * 0.125
    t = jnp.where(on("xfrac")[:, None], t, 0.0)
    t = draws["xfrac"] = jnp.stack([t[:, 0] * w, t[:, 1] * h], -1)
    g_inv = g_inv @ _translate2d_inv(t[:, 0], t[:, 1])
  return g_inv, draws


def ada_augment(x, rng, p, policy: str = ADA_BGC):
  """ADA's pipeline at probability p (a traced scalar) for x [B, H, W, C] in [-1, 1];
  `policy` as in `parse_ada_policy` (per-op probability multipliers)."""
  mults = parse_ada_policy(policy)
  ops = list(mults)
  b, h, w, c = x.shape
  k_geom, k_rest = jax.random.split(rng)
  keys = iter(jax.random.split(k_rest, 16))
  p = jnp.asarray(p, jnp.float32)
  if any(o in ops for o in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")):
    m, _ = ada_geometric(k_geom, b, h, w, p, mults)
    x = _warp(x, m)

  color_ops = [o for o in ("brightness", "contrast", "lumaflip", "hue", "saturation") if o in ops]
  if color_ops:
    ident4 = _eye(b, 4)
    gate4 = lambda val, op: jnp.where(
        (jax.random.uniform(next(keys), (b,)) < p * mults[op])[:, None, None], val, ident4)
    v = jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
    vv = jnp.outer(v, v)
    cm = ident4
    if "brightness" in ops:
      t = jax.random.normal(next(keys), (b,)) * 0.2
      cm = gate4(ident4.at[:, :3, 3].set(t[:, None]), "brightness") @ cm
    if "contrast" in ops:
      s = jnp.exp2(jax.random.normal(next(keys), (b,)) * 0.5)
      cm = gate4(ident4 * jnp.concatenate([jnp.broadcast_to(s[:, None], (b, 3)),
                                           jnp.ones((b, 1))], -1)[:, None, :],
                 "contrast") @ cm
    if "lumaflip" in ops:
      i = jax.random.randint(next(keys), (b,), 0, 2).astype(jnp.float32)
      cm = gate4(ident4 - 2 * vv[None] * i[:, None, None], "lumaflip") @ cm
    if "hue" in ops:
      theta = (jax.random.uniform(next(keys), (b,)) * 2 - 1) * jnp.pi
      a = v[:3]
      cross = jnp.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
      cs, sn = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
      r3 = cs * jnp.eye(3) + sn * cross + (1 - cs) * jnp.outer(a, a)           # Rodrigues
      cm = gate4(ident4.at[:, :3, :3].set(r3), "hue") @ cm
    if "saturation" in ops:
      s = jnp.exp2(jax.random.normal(next(keys), (b,)))
      cm = gate4(vv[None] + (jnp.eye(4)[None] - vv[None]) * s[:, None, None],
                 "saturation") @ cm
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
    on = (jax.random.uniform(next(keys), (b,)) < p * mults["cutout"])[:, None, None]
    x = jnp.where((keep | ~on)[..., None], x, 0.0)
  return x


def real_sign_sum(real_logits):
  """sum over images of sign(D(x_real)), one term per image: an image with several logits
  (per patch and scale, Projected GAN's [B, N]) contributes the mean of their signs."""
  return jnp.sum(jnp.mean(jnp.sign(real_logits).reshape(real_logits.shape[0], -1), axis=1))


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
