"""Projected GAN's discriminator (research/projected_gan): the frozen feature network and
random projections stay out of the trainable params and do not move in a train step,
gradients reach the images, per-scale shapes, CSM against a numpy transcription of the
official fusion, and the multi-scale hinge loss against the official concatenation (numpy).
The smoke variant trains through the Trainer in tests/test_config_smoke.py (it globs
configs/*.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import projected_gan
from lib.metrics.domain_classifier import MissingWeightsError
from lib.errors import UserError
from lib.tasks import gan
from lib.tasks import gan_losses as losses
from research.projected_gan.feature_network import FROZEN, load_feature_network
from research.projected_gan.projector import (RandomProjection, csm_channels,
                                              upsample2_align_corners)

B = 8


@pytest.fixture(scope="module")
def stepped():
  """(state, state after one GAN train step, grad of D's logits w.r.t. the images), from one
  compiled program on the smoke config."""
  c = projected_gan.get_config("smoke")
  c.data.batch_size = B
  images = jax.random.uniform(jax.random.key(3), (B, 16, 16, 1), minval=-1.0, maxval=1.0)
  batch = {"image": images, "label": jnp.zeros((B,), jnp.int32)}

  def run(rng):
    state = gan.init(c, rng, batch)
    new_state, _ = gan.train_step(c, state, batch, jax.random.fold_in(rng, 1))
    D = gan.discriminator_of(c)
    d_sum = lambda x: jnp.sum(gan.apply_model(D, state.params["D"], state.model_state["D"],
                                              x, None, train=True)[0][0])
    return state, new_state, jax.grad(d_sum)(images)
  return (c,) + jax.jit(run)(jax.random.key(0))


def test_frozen_network_and_projections_are_not_trainable(stepped):
  c, state, new_state, _ = stepped
  params, frozen = state.params["D"], state.model_state["D"][FROZEN]
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  assert not any("vit" in p or "projection" in p or "feature_network" in p for p in paths)
  assert all(p.startswith("['disc_") for p in paths)
  # the whole ViT is in 'frozen', equal to the weights file
  _, vit_file, _ = load_feature_network("vit_digits")
  vit = frozen["feature_network"]["vit"]
  jax.tree.map(np.testing.assert_array_equal, vit, vit_file)
  # CCM and CSM weights (random 1x1 convolutions) are in 'frozen' too
  assert sorted(frozen["projection"]) == [f"{k}_{i}" for k in ("ccm", "csm") for i in range(4)]
  # D's optimizer state covers the trainable params only
  n_opt = sum(x.size for x in jax.tree.leaves(state.opt_state["D"]) if x.ndim)
  n_par = sum(x.size for x in jax.tree.leaves(params))
  assert n_opt % n_par == 0 and n_opt // n_par == 2                      # Adam: mu, nu
  # after a step: frozen unchanged, D's and G's params moved
  jax.tree.map(np.testing.assert_array_equal, new_state.model_state["D"][FROZEN], frozen)
  moved = lambda a, b: max(float(jnp.max(jnp.abs(x - y))) for x, y in
                           zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert moved(new_state.params["D"], params) > 0
  assert moved(new_state.params["G"], state.params["G"]) > 0


def test_gradients_reach_the_images(stepped):
  _, _, _, grad = stepped
  g = np.asarray(grad)
  assert np.all(np.isfinite(g))
  assert np.all(np.abs(g).reshape(B, -1).sum(-1) > 0)          # every sample gets a gradient


def test_per_scale_shapes():
  c = projected_gan.get_config("digits")
  x = jnp.zeros((2, 32, 32, 1))

  def shapes(**kw):
    cfg = c.discriminator.to_dict() | kw
    c2 = projected_gan.get_config("digits")
    c2.discriminator.update(cfg)
    D = gan.discriminator_of(c2)
    v = jax.eval_shape(lambda r: D.init(r, x), jax.random.key(0))
    feats = jax.eval_shape(lambda v: D.apply(v, x, features_only=True), v)
    out = jax.eval_shape(lambda v: D.apply(v, x, None, train=True, mutable=["batch_stats"])[0], v)
    return [f.shape for f in feats], out[0].shape

  feats, out = shapes()                       # digits: cout 16, CSM at 32, 16, 8, 4 px
  assert feats == [(2, 32, 32, 16), (2, 16, 16, 16), (2, 8, 8, 32), (2, 4, 4, 64)]
  assert out == (2, 4)                        # one 1x1 logit map per scale, concatenated
  feats, _ = shapes(cout=64, width_scale=1.0)  # official widths: CSM (64, 64, 128, 256)
  assert [f[-1] for f in feats] == list(csm_channels(64, True)) == [64, 64, 128, 256]
  feats, _ = shapes(proj_type=1)              # CCM only: the pyramid's resolutions
  assert feats == [(2, 16, 16, 16), (2, 8, 8, 32), (2, 4, 4, 64), (2, 2, 2, 128)]
  assert shapes(reduction="mean")[1] == (2,)
  assert shapes(num_discs=2)[1] == (2, 2)


def test_conditional_discriminator_shapes():
  c = projected_gan.get_config("digits")
  c.gan.conditioning = "cbn_projection"
  D = gan.discriminator_of(c)
  x, y = jnp.zeros((2, 32, 32, 1)), jnp.zeros((2,), jnp.int32)
  v = jax.eval_shape(lambda r: D.init(r, x, y), jax.random.key(0))
  assert "embed" in v["params"]["disc_0"] and "embed_proj" in v["params"]["disc_0"]
  out, cls = jax.eval_shape(lambda v: D.apply(v, x, y, train=True, mutable=["batch_stats"])[0], v)
  assert out.shape == (2, 4) and cls is None


def test_csm_matches_numpy_transcription():
  # torch align_corners=True upsampling of [0, 1] -> [0, 1/3, 2/3, 1]
  up = upsample2_align_corners(jnp.asarray([[0.0, 1.0]]).reshape(1, 1, 2, 1))
  np.testing.assert_allclose(np.asarray(up)[0, 0, :, 0], [0, 1 / 3, 2 / 3, 1], atol=1e-6)
  rng = np.random.default_rng(0)
  maps = [jnp.asarray(rng.normal(size=(2, r, r, 5)), jnp.float32) for r in (8, 4, 2, 1)]
  P = RandomProjection(cout=4, expand=True)
  v = P.init(jax.random.key(0), maps)
  out = P.apply(v, maps)
  w = jax.tree.map(np.asarray, v[FROZEN])

  def up_np(x):                       # bilinear x2, align_corners=True, on numpy
    def interp(x, axis):
      n = x.shape[axis]
      pos = np.arange(2 * n) * ((n - 1) / (2 * n - 1))
      lo = np.floor(pos).astype(int)
      hi = np.minimum(lo + 1, n - 1)
      f = (pos - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
      return np.take(x, lo, axis) * (1 - f) + np.take(x, hi, axis) * f
    return interp(interp(x, 1), 2)

  dense = lambda x, p: x @ p["kernel"] + p["bias"]
  ccm = [dense(np.asarray(m), w[f"ccm_{i}"]) for i, m in enumerate(maps)]
  fused, ref = None, [None] * 4
  for i in (3, 2, 1, 0):                # official F_RandomProj.forward, coarsest first
    h = ccm[i] if fused is None else ccm[i] + fused
    fused = ref[i] = dense(up_np(h), w[f"csm_{i}"])
  for o, r in zip(out, ref):
    np.testing.assert_allclose(np.asarray(o), r, rtol=1e-5, atol=1e-5)
  assert [o.shape[1] for o in out] == [16, 8, 4, 2]
  assert [o.shape[-1] for o in out] == [4, 4, 8, 16]


def _official_hinge(real_scales, fake_scales):
  """training/loss.py on MultiScaleD's torch.cat of the flattened per-scale logits."""
  r = np.concatenate([s.reshape(len(s), -1) for s in real_scales], 1)
  f = np.concatenate([s.reshape(len(s), -1) for s in fake_scales], 1)
  d = np.mean(np.maximum(1 - r, 0)) + np.mean(np.maximum(1 + f, 0))
  d_grad_r, d_grad_f = -(r < 1).astype(np.float64) / r.size, (f > -1).astype(np.float64) / f.size
  return d, -np.mean(f), d_grad_r, d_grad_f, np.full(f.shape, -1.0 / f.size)


def test_multiscale_hinge_equals_the_official_concatenation():
  rng = np.random.default_rng(1)
  shapes = [(6, 4, 4), (6, 4, 4), (6, 1, 1), (6, 2, 2)]
  real = [rng.normal(0, 2, s).astype(np.float32) for s in shapes]
  fake = [rng.normal(0, 2, s).astype(np.float32) for s in shapes]
  cat = lambda ss: jnp.concatenate([jnp.asarray(s).reshape(6, -1) for s in ss], 1)  # [B, N]
  d_ref, g_ref, gr_ref, gf_ref, gg_ref = _official_hinge(real, fake)
  r, f = cat(real), cat(fake)
  d, (gr, gf) = jax.value_and_grad(lambda r, f: losses.discriminator_loss("hinge", r, f),
                                   argnums=(0, 1))(r, f)
  g, gg = jax.value_and_grad(lambda f: losses.generator_loss("hinge", None, f))(f)
  np.testing.assert_allclose(float(d), d_ref, rtol=1e-6)
  np.testing.assert_allclose(float(g), g_ref, rtol=1e-6)
  for a, b in ((gr, gr_ref), (gf, gf_ref), (gg, gg_ref)):
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6, atol=1e-9)
  # reduction='mean' ([B]): G's loss and gradient are exact (linear in the logits) ...
  mean_b = lambda x: jnp.mean(x, axis=1)
  g_m, gg_m = jax.value_and_grad(lambda f: losses.generator_loss("hinge", None, mean_b(f)))(f)
  np.testing.assert_allclose(float(g_m), g_ref, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(gg_m), gg_ref, rtol=1e-6)
  # ... D's only when no sample's patch logits straddle a margin; no [B] value can do better:
  # patch logits (3, -3) need relu(1 - r) = 2 (r = -1) as a real, relu(1 + r) = 2 (r = 1) as a fake
  far = jnp.asarray([[3.0, 5.0], [-4.0, -2.0]])
  both = lambda x: losses.discriminator_loss("hinge", x, x)
  np.testing.assert_allclose(float(both(mean_b(far)[:, None])), float(both(far)), rtol=1e-6)
  straddle = jnp.asarray([[3.0, -3.0]])
  assert float(both(straddle)) == 4.0 and float(both(mean_b(straddle)[:, None])) == 2.0


def test_user_named_feature_network_and_missing_weights_error():
  c = projected_gan.get_config("digits")
  c.discriminator.feature_network = "vit_digits_thick"      # another classifier of the folder
  D = gan.discriminator_of(c)
  v = jax.eval_shape(lambda r: D.init(r, jnp.zeros((1, 32, 32, 1))), jax.random.key(0))
  assert "vit" in v[FROZEN]["feature_network"]
  c.discriminator.feature_network = "vit_nowhere"
  D = gan.discriminator_of(c)
  with pytest.raises(MissingWeightsError) as e:
    jax.eval_shape(lambda r: D.init(r, jnp.zeros((1, 32, 32, 1))), jax.random.key(0))
  msg = str(e.value)
  assert isinstance(e.value, UserError)
  assert "config.discriminator.feature_network='vit_nowhere'" in msg
  assert "vit_digits" in msg and "python -m lib.metrics.domain_classifier" in msg


def test_variants_build():
  for variant in ("digits", "shapes", "cifar10", "smoke"):
    for d in ("projected", "plain"):
      c = projected_gan.get_config(f"{variant},d={d}")
      gan.generator_of(c), gan.discriminator_of(c)
      assert c.gan.loss == "hinge" and c.gan.augment == "diffaugment"
      assert c.gan.augment_policy == "color,translation,cutout"
      assert (c.optimizer_d.b1, c.optimizer_d.b2, c.optimizer_d.learning_rate) == (0.0, 0.99, 2e-4)
  assert getattr(gan.discriminator_of(projected_gan.get_config("digits")), "batch_coupled")
  assert projected_gan.get_config("cifar10").discriminator.feature_network == "vit_shapes"
