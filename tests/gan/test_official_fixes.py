"""Mechanisms matched to the official code (issue 11, "Fix first"): minibatch-std groups,
ADA's matrix order and per-op multipliers, R3GAN's conditional pairing and head, StyleSwin's
layers, the official LayerNorm epsilons. Each test fails on the behaviour it replaced."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.tasks import gan
from lib.tasks import gan_augment as A
from lib.train.param_paths import tree_paths


def _paths(tree):
  return set(jax.tree.leaves(tree_paths(tree)))


# --- minibatch standard deviation: groups all-real or all-fake --------------------------------

@pytest.mark.parametrize("name", ["stylegan2", "styleswin"])
def test_d_logits_of_reals_do_not_depend_on_the_fakes(name):
  import importlib
  c = importlib.import_module(f"configs.{name}").get_config("smoke")
  D = gan.discriminator_of(c)
  assert D.batch_coupled
  k = jax.random.split(jax.random.key(0), 4)
  xr, xf1, xf2 = (jax.random.normal(kk, (8, 16, 16, 1)) for kk in k[:3])
  v = jax.jit(lambda x: D.init(k[3], x, None))(xr)
  params, ms = v["params"], {k: val for k, val in v.items() if k != "params"}
  logits = jax.jit(lambda xf: gan.discriminator_logits(c, D, params, ms, xr, xf, None, None))
  r1, f1, *_ = logits(xf1)
  r2, f2, *_ = logits(xf2)
  np.testing.assert_array_equal(np.asarray(r1), np.asarray(r2))
  assert float(jnp.abs(f1 - f2).max()) > 0
  # the feature does couple samples: a joint call on [reals; fakes] would have mixed them
  joint = jax.jit(lambda xf: D.apply(v, jnp.concatenate([xr, xf]), None)[0][:8])
  assert float(jnp.abs(joint(xf1) - joint(xf2)).max()) > 0


# --- R3GAN: fakes paired with reals share their labels -----------------------------------------

def test_relativistic_fakes_take_the_labels_of_their_paired_reals():
  from configs.r3gan import get_config
  c = get_config("smoke")
  c.gan.conditioning = "cbn_projection"
  y = jnp.arange(16) % 10
  np.testing.assert_array_equal(np.asarray(gan.generator_labels(c, jax.random.key(0), y)),
                                np.asarray(y))
  c.gan.loss = "hinge"                        # unpaired losses draw labels uniformly
  drawn = np.asarray(gan.generator_labels(c, jax.random.key(0), y))
  assert drawn.shape == (16,) and (drawn != np.asarray(y)).any()
  c.gan.conditioning = "none"
  assert gan.generator_labels(c, jax.random.key(0), y) is None


def test_r3gan_conditional_head_is_the_official_one():
  from research.r3gan.model import Discriminator, Generator
  d = Discriminator(widths=(8, 16, 16), blocks_per_stage=1, cardinality=2, num_classes=10)
  x, y = jax.random.normal(jax.random.key(0), (4, 16, 16, 1)), jnp.asarray([0, 1, 2, 3])
  v = jax.jit(d.init)(jax.random.key(1), x, y)
  p = v["params"]
  assert "head" not in p and "psi" not in str(_paths(p))           # no unconditional term
  assert p["basis_linear"]["kernel"].shape == (16, 16)             # to the embedding dim
  assert "bias" not in p["basis_linear"] and "bias" not in p["basis"]
  emb = np.asarray(p["label_embed"]["embedding"])                  # [K, dim]
  assert emb.shape == (10, 16)
  assert 0.6 < emb.std() / (1 / np.sqrt(16) / np.sqrt(10)) < 1.4   # gain 1/sqrt(dim)
  # the logit is <phi(x), e_y> and nothing else: a zero class embedding gives logit 0
  zeroed = jax.tree.map(lambda a: a, v)
  zeroed["params"]["label_embed"]["embedding"] = jnp.zeros_like(emb).at[1:].set(emb[1:])
  out, _ = jax.jit(d.apply)(zeroed, x, y)
  assert float(out[0]) == 0.0 and float(jnp.abs(out[1:]).min()) > 0
  g = Generator(image_size=16, widths=(16, 8, 8), blocks_per_stage=1, cardinality=2,
                embed_dim=8, num_classes=10, channels=1)
  gp = jax.jit(g.init)(jax.random.key(2), jnp.zeros((2, 4)), jnp.asarray([0, 1]))["params"]
  assert "bias" not in gp["basis_linear"] and gp["basis_linear"]["kernel"].shape == (12, 16)
  assert 0.6 < np.asarray(gp["label_embed"]["embedding"]).std() * np.sqrt(10) < 1.4
  with pytest.raises(ValueError, match="acgan"):
    jax.eval_shape(Discriminator(widths=(8, 16, 16), blocks_per_stage=1, cardinality=2,
                                 num_classes=10, class_head="acgan").init,
                   jax.random.key(1), x, y)


# --- ADA: official order (G_inv right-multiplied by each inverse) ------------------------------

def _s(sx, sy):
  return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1.0]])


def _t(tx, ty):
  return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1.0]])


def _r(th):
  return np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1.0]])


def official_g_inv(d, n):
  """augment.py's composition, transcribed: G_inv = G_inv @ T_inv in the pipeline order."""
  out = []
  for k in range(n):
    g = np.eye(3)
    if "xflip" in d:
      g = g @ _s(1 / (1 - 2 * d["xflip"][k]), 1.0)
    if "rotate90" in d:
      g = g @ _r(np.pi / 2 * d["rotate90"][k])          # rotate2d_inv(-pi/2 i)
    if "xint" in d:
      g = g @ _t(-d["xint"][k, 0], -d["xint"][k, 1])
    if "scale" in d:
      g = g @ _s(1 / d["scale"][k], 1 / d["scale"][k])
    if "rotate_pre" in d:
      g = g @ _r(d["rotate_pre"][k])
    if "aniso" in d:
      g = g @ _s(1 / d["aniso"][k], d["aniso"][k])
    if "rotate_post" in d:
      g = g @ _r(d["rotate_post"][k])
    if "xfrac" in d:
      g = g @ _t(-d["xfrac"][k, 0], -d["xfrac"][k, 1])
    out.append(g)
  return np.stack(out)


@pytest.mark.parametrize("policy,p", [("xflip,xint,scale", 1.0), (A.ADA_BGC, 0.7)])
def test_ada_matrix_composed_in_the_official_order(policy, p):
  g_inv, draws = A.ada_geometric(jax.random.key(3), 16, 32, 32, p, A.parse_ada_policy(policy))
  d = {k: np.asarray(v, np.float64) for k, v in draws.items()}
  np.testing.assert_allclose(np.asarray(g_inv), official_g_inv(d, 16), atol=1e-5)
  if policy == "xflip,xint,scale":
    # integer translation then scaling: the translation is not rescaled by the scale, and
    # the flip acts first on the image (outermost in G_inv)
    flip, t, s = 1 - 2 * d["xflip"], d["xint"][:, 0], d["scale"]
    np.testing.assert_allclose(np.asarray(g_inv[:, 0, 2]), -flip * t, atol=1e-5)
    np.testing.assert_allclose(np.asarray(g_inv[:, 0, 0]), flip / s, rtol=1e-5)
    assert (np.abs(t) > 0).any() and (np.abs(s - 1) > 0.05).any() and (flip < 0).any()


def test_ada_per_op_multipliers():
  assert A.parse_ada_policy("xflip,brightness=0.5,cutout") == {
      "xflip": 1.0, "brightness": 0.5, "cutout": 1.0}
  with pytest.raises(ValueError, match="unknown op"):
    A.parse_ada_policy("xflip,blur")
  with pytest.raises(ValueError, match="multiplier"):
    A.parse_ada_policy("xflip=lots")
  x = jax.random.uniform(jax.random.key(0), (64, 8, 8, 1), minval=-1, maxval=1)
  np.testing.assert_array_equal(np.asarray(A.ada_augment(x, jax.random.key(1), 1.0,
                                                         "xflip=0,brightness=0,cutout=0")),
                                np.asarray(x))
  # multiplier 0.5 at p = 1: about half the samples are flipped
  _, draws = A.ada_geometric(jax.random.key(2), 2000, 8, 8, 1.0, {"xflip": 0.5})
  flipped = float(jnp.mean(draws["xflip"]))            # P = 0.5 (gate) * 0.5 (i = 1)
  assert 0.2 < flipped < 0.3
  from configs.r3gan import get_config
  mults = A.parse_ada_policy(get_config("cifar10").gan.augment_policy)
  assert mults["xint"] == 1.0 and mults["hue"] == 0.5 and mults["cutout"] == 1.0


# --- StyleSwin per the official code -----------------------------------------------------------

@pytest.fixture(scope="module")
def styleswin_g():
  from research.styleswin.model import Generator
  g = Generator(image_size=16, channels=1, widths=(8, 8, 4), num_heads=(2, 2, 2),
                blocks_per_stage=1, window_size=4, w_dim=8, mapping_layers=1)
  z = jax.random.normal(jax.random.key(0), (2, 8))
  return g, z, jax.jit(g.init)(jax.random.key(1), z)


def test_styleswin_generator_layers(styleswin_g):
  g, z, v = styleswin_g
  p = v["params"]
  assert "up0" not in p                                  # no SPE / transition at 4x4
  for s, (cin, cout) in ((1, (8, 8)), (2, (8, 4))):
    up = p[f"up{s}"]
    assert set(up) == {"norm", "reduction", "alpha"}
    assert up["reduction"]["kernel"].shape == (cin, cout) and "bias" not in up["reduction"]
    assert float(up["alpha"]) == 0.0                     # SPE scale starts at 0
  for s, ch in enumerate((8, 4, 4)):                    # after each transition
    assert set(p[f"to_rgb{s}"]) == {"conv"}             # unmodulated 1x1 conv
    assert p[f"to_rgb{s}"]["conv"]["kernel"].shape == (1, 1, ch, 1)
  apply = jax.jit(g.apply)
  out = apply(v, z)
  moved = jax.tree.map(lambda a: a, v)
  moved["params"]["up1"]["alpha"] = jnp.asarray(1.0)
  assert float(jnp.abs(apply(moved, z) - out).max()) > 0     # SPE is wired in via alpha


def test_styleswin_adain_plain_gamma():
  from research.styleswin.model import AdaIN
  x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
  w = np.random.default_rng(1).normal(size=(2, 5)).astype(np.float32)
  m = AdaIN()
  v = m.init(jax.random.key(0), x, w)
  k, b = np.asarray(v["params"]["style"]["kernel"]), np.asarray(v["params"]["style"]["bias"])
  style = w @ (k / np.sqrt(5)) + b                       # equalized linear, bias 0 at init
  assert not b.any()
  gamma, beta = style[:, :3], style[:, 3:]
  norm = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
  want = gamma[:, None, None] * norm + beta[:, None, None]
  np.testing.assert_allclose(np.asarray(m.apply(v, x, w)), want, rtol=1e-4, atol=1e-5)


def test_styleswin_discriminator_blocks_are_not_residual():
  from research.styleswin.model import Discriminator
  d = Discriminator(width=8)
  v = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 16, 16, 1))))
  blocks = [k for k in v["params"] if k.startswith("block")]
  assert blocks and all(set(v["params"][k]) == {"conv0", "conv1"} for k in blocks)


def test_haar_dwt_is_the_official_upfirdn2d_filter_bank():
  from lib.nn.upfirdn import upfirdn2d
  from research.styleswin.model import haar_dwt
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  lo, hi = np.ones(2) / np.sqrt(2), np.array([-1.0, 1.0]) / np.sqrt(2)
  bands = [np.outer(lo, lo), np.outer(hi, lo), np.outer(lo, hi), np.outer(hi, hi)]
  want = jnp.concatenate([upfirdn2d(x, f, down=2) for f in bands], -1)
  np.testing.assert_allclose(np.asarray(haar_dwt(x)), np.asarray(want), atol=1e-5)


# --- LayerNorm epsilon of the official code ----------------------------------------------------

def _layer_norm_epsilons(module, *args, rngs=None):
  seen = []

  def spy(next_fun, a, kw, context):
    if isinstance(context.module, nn.LayerNorm):
      seen.append(context.module.epsilon)
    return next_fun(*a, **kw)

  with nn.intercept_methods(spy):
    jax.eval_shape(module.init, rngs if rngs is not None else jax.random.key(0), *args)
  return seen


def test_official_layer_norm_epsilons():
  from lib.attention.slot import SlotAttention
  from lib.attention.swin import SwinBlock
  from research.styleswin.model import BilinearUpsample
  assert set(_layer_norm_epsilons(SwinBlock(2, 4), jnp.zeros((1, 4, 4, 8)))) == {1e-5}
  assert set(_layer_norm_epsilons(BilinearUpsample(4), jnp.zeros((1, 2, 2, 8)))) == {1e-5}
  slot = SlotAttention(num_slots=2, slot_size=8, mlp_hidden=8)
  eps = _layer_norm_epsilons(slot, jnp.zeros((1, 6, 8)), rngs={"params": jax.random.key(0),
                                                               "slots": jax.random.key(1)})
  assert eps and set(eps) == {1e-3}          # tf.keras LayerNormalization default
