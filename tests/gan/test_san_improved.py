"""SAN (Takida et al. 2024) and Improved Techniques for Training GANs (Salimans et al. 2016)
against numpy transcriptions: the SAN loss and which gradients it stops (closed forms for the
gradients w.r.t. h, omega, the scale and w), the head's sown (h, w, b) reproducing D's logit,
minibatch discrimination, feature matching, one-sided label smoothing, historical averaging
and its running mean; then one jitted GAN step with every key on."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.errors import ConfigError
from lib.nn.class_head import DiscriminatorHead, head_features
from lib.nn.minibatch_discrimination import MinibatchDiscrimination
from lib.tasks import gan, gan_improved as I, gan_losses as L, gan_san as S
from tests.gan.test_gan_step import batch, config


def sigmoid(t):
  return 1 / (1 + np.exp(-t))


def unit(v):
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


# derivative of the base D loss (mean over B) w.r.t. each real / fake logit
BASE_GRAD = {
    "hinge": (lambda r: -(r < 1.0).astype(float) / r.size,
              lambda f: (f > -1.0).astype(float) / f.size),
    "nonsaturating": (lambda r: -sigmoid(-r) / r.size, lambda f: sigmoid(f) / f.size),
}


@pytest.mark.parametrize("name", ["hinge", "nonsaturating"])
def test_san_loss_and_its_stopped_gradients_match_closed_form(name):
  rng = np.random.default_rng(0)
  n, c = 6, 5
  h = {k: rng.normal(size=(n, c)) for k in "rf"}
  w = {k: rng.normal(size=(n, c)) * 0.6 for k in "rf"}
  b = {k: rng.normal(size=n) for k in "rf"}
  om = {k: unit(w[k]) for k in "rf"}
  s = {k: np.linalg.norm(w[k], axis=-1) for k in "rf"}
  f32 = lambda d: {k: jnp.asarray(v, jnp.float32) for k, v in d.items()}
  base = lambda r, f: L.discriminator_loss(name, r, f)

  def loss(h, om, s, b):
    fr, dr = S.san_logits(h["r"], om["r"], s["r"], b["r"])
    ff, df = S.san_logits(h["f"], om["f"], s["f"], b["f"])
    return base(fr, ff) + S.direction_loss(dr, df)

  fun = {k: s[k] * np.sum(h[k] * om[k], -1) + b[k] for k in "rf"}   # = the plain logit
  ref = (np.mean(np.maximum(0, 1 - fun["r"])) + np.mean(np.maximum(0, 1 + fun["f"]))
         if name == "hinge" else
         np.mean(np.log1p(np.exp(-fun["r"]))) + np.mean(np.log1p(np.exp(fun["f"]))))
  ref += np.mean(fun["f"] - b["f"]) - np.mean(fun["r"] - b["r"])      # Wasserstein on dir
  args = (f32(h), f32(om), f32(s), f32(b))
  np.testing.assert_allclose(float(loss(*args)), ref, rtol=1e-5)
  gh, gom, gs, gb = jax.grad(loss, argnums=(0, 1, 2, 3))(*args)
  lp = {"r": BASE_GRAD[name][0](fun["r"]), "f": BASE_GRAD[name][1](fun["f"])}
  sign = {"r": -1.0 / n, "f": 1.0 / n}                                 # d(E_q dir - E_p dir)
  for k in "rf":
    # h only through fun (dir sees sg(h)); omega only through dir (fun sees sg(omega))
    np.testing.assert_allclose(gh[k], lp[k][:, None] * s[k][:, None] * om[k], atol=1e-6)
    np.testing.assert_allclose(gom[k], sign[k] * s[k][:, None] * h[k], atol=1e-6)
    np.testing.assert_allclose(gs[k], lp[k] * np.sum(h[k] * om[k], -1), atol=1e-6)
    np.testing.assert_allclose(gb[k], lp[k], atol=1e-6)

  # through w = scale * omega: the scale follows the base loss, the direction the Wasserstein
  def loss_w(w):
    feats = {k: {"h": f32(h)[k], "w": w[k], "b": f32(b)[k]} for k in "rf"}
    return S.discriminator_loss(base, feats["r"], feats["f"])

  np.testing.assert_allclose(float(loss_w(f32(w))), ref, rtol=1e-5)
  gw = jax.grad(loss_w)(f32(w))
  for k in "rf":
    proj = np.sum(h[k] * om[k], -1, keepdims=True)
    ref_w = lp[k][:, None] * proj * om[k] + sign[k] * (h[k] - proj * om[k])
    np.testing.assert_allclose(gw[k], ref_w, atol=1e-6)


@pytest.mark.parametrize("sn,improved,classes", [(False, False, 0), (True, False, 0),
                                                 (True, True, 0), (True, False, 3),
                                                 (False, False, 3)])
def test_head_features_reproduce_the_logit_so_san_keeps_the_generator_loss(sn, improved,
                                                                           classes):
  """f(x) = <w_y, h> + b = ||w_y|| <h, omega> + b: SAN's G loss is the base loss on it."""
  head = DiscriminatorHead(classes, "projection", sn, improved)
  phi = jax.random.normal(jax.random.key(1), (4, 7))
  y = jnp.asarray([0, 1, 2, 1]) if classes else None
  v = head.init(jax.random.key(0), phi, y)
  v = jax.tree.map(lambda a: a * 1.7 if a.ndim == 2 and a.shape[-1] == 1 else a, v)
  assert "intermediates" not in v
  (out, _), inter = head.apply(v, phi, y, mutable=["intermediates"])
  feats = head_features(inter)
  np.testing.assert_allclose(np.asarray(feats["h"]), np.asarray(phi), atol=0)
  omega, scale = S.split_weight(feats["w"])
  plain = scale * jnp.sum(feats["h"] * omega, -1) + feats["b"]
  np.testing.assert_allclose(np.asarray(plain), np.asarray(out), rtol=1e-5, atol=1e-6)
  fun, _ = S.logits_of(feats)
  for name in L.LOSSES:
    np.testing.assert_allclose(float(L.generator_loss(name, out, fun)),
                               float(L.generator_loss(name, out, out)), rtol=1e-5)


def test_minibatch_discrimination_matches_numpy():
  x = jax.random.normal(jax.random.key(0), (5, 6))
  for include_self in (False, True):
    layer = MinibatchDiscrimination(4, 3, include_self)
    v = layer.init(jax.random.key(1), x)
    v = {"params": {"T": v["params"]["T"] * 10, "b": jnp.arange(4.0) / 10}}
    out = np.asarray(layer.apply(v, x))
    xn, t = np.asarray(x, np.float64), np.asarray(v["params"]["T"], np.float64)
    m = np.einsum("na,abc->nbc", xn, t)
    o = np.zeros((5, 4))
    for i in range(5):
      for j in range(5):
        if i != j or include_self:
          o[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))                  # c_b(x_i, x_j)
    o += np.arange(4) / 10
    np.testing.assert_allclose(out, np.concatenate([xn, o], 1), rtol=1e-5, atol=1e-6)
    assert o.std() > 1e-3                                               # not all zero


def test_feature_matching_smoothing_and_historical_averaging_match_numpy():
  rng = np.random.default_rng(0)
  fr, ff = rng.normal(size=(8, 5)), rng.normal(1.0, 1.0, size=(6, 5))
  loss = lambda a, b: I.feature_matching_loss(a, b)
  np.testing.assert_allclose(float(loss(jnp.asarray(fr), jnp.asarray(ff))),
                             np.sum((fr.mean(0) - ff.mean(0)) ** 2), rtol=1e-5)
  g_real = jax.grad(loss)(jnp.asarray(fr), jnp.asarray(ff))
  assert float(jnp.abs(g_real).max()) == 0.0                           # reals are constants
  r, f = rng.normal(size=16) * 2, rng.normal(size=16) * 2
  ref = (np.mean(-(0.9 * np.log(sigmoid(r)) + 0.1 * np.log(1 - sigmoid(r))))
         + np.mean(-np.log(1 - sigmoid(f))))
  np.testing.assert_allclose(float(I.smoothed_nonsaturating_loss(jnp.asarray(r),
                                                                 jnp.asarray(f), 0.1)),
                             ref, rtol=1e-5)
  thetas = [{"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)} for _ in range(5)]
  mean = jax.tree.map(jnp.zeros_like, thetas[0])
  for t, th in enumerate(thetas):
    mean = I.running_mean(mean, th, t)
    ref_mean = jax.tree.map(lambda *xs: np.mean(xs, 0), *thetas[:t + 1])
    for a, e in zip(jax.tree.leaves(mean), jax.tree.leaves(ref_mean)):
      np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
  p = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)}
  np.testing.assert_allclose(float(I.historical_penalty(p, ref_mean)),
                             sum(np.sum((p[k] - ref_mean[k]) ** 2) for k in p), rtol=1e-5)


def test_gan_step_with_san_feature_matching_smoothing_averaging_and_minibatch_disc():
  c = config(san=True, feature_matching_weight=1.0, label_smoothing=0.1,
             historical_averaging_weight=0.01)
  c.discriminator.minibatch_kernels = 4
  s0 = gan.init(c, jax.random.key(0), batch(c))
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  s1, m1 = step(s0, batch(c), jax.random.key(1))
  s2, m2 = step(s1, batch(c, 1), jax.random.key(2))
  assert all(np.isfinite(float(v)) for v in {**m1, **m2}.values())
  assert {"g_feature_matching", "g_hist_avg", "d_hist_avg"} <= set(m2)
  assert float(m1["g_hist_avg"]) == 0.0 and float(m2["g_hist_avg"]) > 0.0
  for mean, a, b in ((s2.stats["hist_G"], s0.params["G"], s1.params["G"]),
                     (s2.stats["hist_D"], s0.params["D"], s1.params["D"])):
    for x, y, z in zip(jax.tree.leaves(mean), jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_allclose(x, (y + z) / 2, rtol=1e-5, atol=1e-7)   # mean of theta_0, 1
  assert "minibatch" in s0.params["D"]
  with pytest.raises(ConfigError, match="label_smoothing"):
    gan.train_step(config(loss="hinge", label_smoothing=0.1), s0, batch(c), jax.random.key(1))


def test_san_and_feature_matching_trace_on_conv_discriminators():
  """Any D ending in the shared head takes the keys (traced, not compiled); one without it
  (R3GAN's) is refused with the fix named."""
  import importlib
  for name in ("dcgan", "sagan"):            # BN + separate batches; SN + projection head
    c = importlib.import_module(f"configs.{name}").get_config("smoke")
    c.gan.update(san=True, feature_matching_weight=1.0)
    n, s, ch = c.data.batch_size, c.data.image_size, c.data.channels
    b = {"image": jnp.zeros((n, s, s, ch)), "label": jnp.zeros((n,), jnp.int32)}
    st = jax.eval_shape(lambda r: gan.init(c, r, b), jax.random.key(0))
    _, m = jax.eval_shape(lambda st, b, r: gan.train_step(c, st, b, r), st, b,
                          jax.random.key(1))
    assert {"d_adv_loss", "g_feature_matching"} <= set(m)
  c = importlib.import_module("configs.r3gan").get_config("smoke")
  c.gan.san = True
  n, s, ch = c.data.batch_size, c.data.image_size, c.data.channels
  b = {"image": jnp.zeros((n, s, s, ch)), "label": jnp.zeros((n,), jnp.int32)}
  st = jax.eval_shape(lambda r: gan.init(c, r, b), jax.random.key(0))
  with pytest.raises(ConfigError, match="DiscriminatorHead"):
    jax.eval_shape(lambda st, b, r: gan.train_step(c, st, b, r), st, b, jax.random.key(1))
