"""Mechanisms matched to the official code, second round (issue 11): StyleGAN2/StyleSwin output
layers and conditional projection, the label embedding outside the mapping's lr multiplier,
style mixing per minibatch (also in the path-length pass), LeCam's official form and anchor
schedule, BigGAN-PyTorch's orthogonal-regularization scale, DiffAugment's policy order,
SAGAN's attention placement, and StyleGAN2's separate lazy-regularization step with rescaled
Adam. Each test fails on the behaviour it replaced."""
import importlib
import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs._gan import gan_config
from lib.tasks import gan
from lib.tasks import gan_augment as A
from lib.tasks import gan_regularizers as R
from lib.train.optim import make_optimizer
from lib.train.param_paths import tree_paths

SQRT2 = math.sqrt(2.0)


def _paths(tree):
  return set(jax.tree.leaves(tree_paths(tree)))


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _lrelu(x):
  return np.where(x >= 0, x, 0.2 * x) * SQRT2


def _norm2(x):
  return x / np.sqrt(np.mean(x ** 2, -1, keepdims=True) + 1e-8)


def _fc(p, x):                                   # official FullyConnectedLayer, lr_mul folded
  return x @ (p["kernel"] / np.sqrt(p["kernel"].shape[0])) + p["bias"]


# --- 1. output layers: equalized lr and the official conditional projection ------------------

def test_stylegan_output_layer_matches_the_official_epilogue_out():
  from lib.nn.stylegan_blocks import StyleGANOutput
  phi = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
  y = np.array([0, 1, 2, 3, 1])
  # unconditional: out = FullyConnectedLayer(C, 1): N(0, 1) weights times 1/sqrt(C)
  m = StyleGANOutput()
  v = m.init(jax.random.key(0), phi)
  p = _np(v["params"])["out"]
  np.testing.assert_allclose(np.asarray(m.apply(v, phi)[0]), _fc(p, phi)[:, 0], rtol=1e-5,
                             atol=1e-6)
  # conditional: cmap = D's own mapping of the label (z_dim 0), (x * cmap).sum / sqrt(cmap_dim)
  m = StyleGANOutput(num_classes=4, cmap_dim=3, mapping_layers=2)
  v = m.init(jax.random.key(1), phi, y)
  p = _np(v["params"])
  assert set(p) == {"out", "mapping"} and set(p["mapping"]) == {"label_embed", "fc0", "fc1"}
  e = _norm2(_fc(p["mapping"]["label_embed"], np.eye(4)[y]))       # official embed + normalize
  cmap = _lrelu(_fc(p["mapping"]["fc1"], _lrelu(_fc(p["mapping"]["fc0"], e))))
  want = np.sum(_fc(p["out"], phi) * cmap, -1) / np.sqrt(3)
  (got, cls), st = m.apply(v, phi, y, mutable=["intermediates"])
  assert cls is None
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
  # the sown last layer (SAN, feature matching) is the same function: <w_y, h> + b_y
  it = st["intermediates"]
  w, b = np.asarray(it["head_w"][0]), np.asarray(it["head_b"][0])
  np.testing.assert_allclose(np.sum(w * phi, -1) + b, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("paper", ["stylegan2", "styleswin"])
def test_style_discriminators_end_in_the_equalized_output(paper):
  D = importlib.import_module(f"research.{paper}.model").Discriminator
  x = jnp.zeros((2, 16, 16, 1))
  v = jax.eval_shape(lambda: D(width=8).init(jax.random.key(0), x))
  assert _paths(v["params"]["head"]) == {"out/kernel", "out/bias"}        # no 'psi' Dense
  v = jax.jit(lambda: D(width=8, num_classes=10).init(jax.random.key(0), x, jnp.arange(2)))()
  head = v["params"]["head"]
  assert head["out"]["kernel"].shape == (8, 8)                          # cmap_dim = 4x4 width
  assert {f"fc{i}" for i in range(8)} | {"label_embed"} == set(head["mapping"])   # 8 layers
  assert 0.7 < float(jnp.std(head["out"]["kernel"])) < 1.3                # N(0, 1), gain at run


def test_stylegan2_torgb_is_the_official_modulated_1x1_conv():
  """Already matched before this round (ToRGBLayer: styles * 1/sqrt(in), no demodulation)."""
  from lib.nn.stylegan_blocks import ToRGB
  rng = np.random.default_rng(1)
  x, w = rng.normal(size=(2, 4, 4, 6)).astype(np.float32), rng.normal(size=(2, 5)).astype(np.float32)
  m = ToRGB(3)
  v = m.init(jax.random.key(0), x, w)
  p = _np(v["params"])
  styles = _fc(p["conv"]["affine"], w) / np.sqrt(6)                    # affine(w) * weight_gain
  want = np.einsum("bhwi,io,bi->bhwo", x, p["conv"]["kernel"][0, 0], styles) + p["bias"]
  np.testing.assert_allclose(np.asarray(m.apply(v, x, w)), want, rtol=1e-4, atol=1e-5)


# --- 5. the label embedding keeps lr multiplier 1 ---------------------------------------------

@pytest.mark.parametrize("paper", ["stylegan2", "styleswin"])
def test_lr_multiplier_covers_the_mapping_layers_not_the_label_embedding(paper):
  c = importlib.import_module(f"configs.{paper}").get_config("smoke")
  c.gan.conditioning = "cbn_projection"
  b = {"image": jnp.zeros((16, 16, 16, 1)), "label": jnp.zeros((16,), jnp.int32)}
  shapes = jax.eval_shape(lambda r: gan.init(c, r, b).params, jax.random.key(0))
  params = jax.tree.map(lambda a: jnp.ones(a.shape, a.dtype), shapes)
  for net, opt in (("G", c.optimizer_g), ("D", c.optimizer_d)):
    ((rx, mult),) = opt.lr_multipliers
    hits = {p for p in _paths(params[net]) if re.fullmatch(rx, p)}
    assert mult == 0.01 and hits and not any("label_embed" in p for p in hits)
    assert all(re.search(r"mapping(_net)?/fc\d+/", p) for p in hits)
    # Adam's first step moves every parameter by lr; the fc layers by 0.01 lr
    tx = make_optimizer(opt, 10)
    updates = jax.jit(lambda p: tx.update(p, tx.init(p), p)[0])(params[net])   # grads = 1
    size = dict(zip(jax.tree.leaves(tree_paths(updates)),
                    [float(jnp.abs(u).max()) for u in jax.tree.leaves(updates)]))
    emb = [s for p, s in size.items() if "label_embed/kernel" in p]
    fc = [s for p, s in size.items() if p in hits and p.endswith("kernel")]
    assert emb and fc
    np.testing.assert_allclose(np.asarray(fc) / emb[0], 0.01, rtol=1e-3)


# --- 2. style mixing: one cutoff per minibatch, also in the path-length pass ------------------

def _switch_points(ws):
  """First style index whose w differs from style 0, per sample (num_ws when none)."""
  diff = np.abs(ws - ws[:, :1]).max(-1) > 0                           # [B, num_ws]
  return np.where(diff.any(1), diff.argmax(1), ws.shape[1])


def test_style_mixing_draws_one_cutoff_per_minibatch():
  from research.stylegan2.model import Generator
  g = Generator(image_size=16, channels=1, width=4, w_dim=4, mapping_layers=1, mixing_prob=0.5)
  z = jax.random.normal(jax.random.key(0), (32, 4))
  v = jax.jit(lambda: g.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, z,
                             method="mapping"))()
  mixed = jax.jit(jax.vmap(lambda k: g.apply(v, z, train=True, method="mixed_mapping",
                                             rngs={"noise": k}, mutable=["batch_stats"])[0]))
  ws = np.asarray(mixed(jax.random.split(jax.random.key(3), 40)))      # [40, B, 6, w_dim]
  n = ws.shape[2]
  cut = np.stack([_switch_points(w) for w in ws])                      # [40, B]
  assert (cut == cut[:, :1]).all()                                     # one cutoff per batch
  assert set(cut[:, 0]) - {n} <= set(range(1, n)) and len(set(cut[:, 0]) - {n}) >= 3
  mixed_frac = np.mean(cut[:, 0] < n)                                   # p = 0.5 per minibatch
  assert 0.25 < mixed_frac < 0.75


def test_path_length_pass_uses_style_mixing():
  from research.stylegan2.model import Generator
  c = importlib.import_module("configs.stylegan2").get_config("smoke")
  c.gan.update(pl_every=1, lazy_reg_separate=False)
  calls = []

  def spy(next_fun, args, kwargs, context):
    if isinstance(context.module, Generator) and context.method_name == "mixed_mapping":
      calls.append(kwargs.get("train", args[2] if len(args) > 2 else None))
    return next_fun(*args, **kwargs)

  b = {"image": jnp.zeros((16, 16, 16, 1)), "label": jnp.zeros((16,), jnp.int32)}
  state = jax.eval_shape(lambda r: gan.init(c, r, b), jax.random.key(0))
  with nn.intercept_methods(spy):
    jax.eval_shape(lambda s, r: gan.train_step(c, s, b, r), state, jax.random.key(1))
  assert calls == [True, True, True]          # D's fakes, G's main pass, the path-length pass


# --- 3. LeCam: the official ReLU form and anchor schedule -------------------------------------

def test_lecam_relu_form_matches_the_official_code():
  r = np.array([0.5, -1.0, 2.0, 0.1])
  f = np.array([-0.3, 0.4, -2.0, 1.5])
  a_r, a_f = 0.2, -0.1
  relu = lambda t: np.maximum(t, 0)
  want = np.mean(relu(r - a_f) ** 2) + np.mean(relu(a_r - f) ** 2)     # losses.py lecam_reg
  got = R.lecam_penalty(jnp.asarray(r), jnp.asarray(f), a_r, a_f, form="relu")
  np.testing.assert_allclose(float(got), want, rtol=1e-6)
  paper = np.mean((r - a_f) ** 2) + np.mean((f - a_r) ** 2)
  assert abs(float(R.lecam_penalty(jnp.asarray(r), jnp.asarray(f), a_r, a_f)) - paper) < 1e-6
  assert abs(want - paper) > 0.1
  with pytest.raises(ValueError, match="lecam_form"):
    R.lecam_penalty(jnp.asarray(r), jnp.asarray(f), a_r, a_f, form="hinge")
  assert gan_config().gan.lecam_form == "relu"


def _mlp_config(**gan_keys):
  c = gan_config()
  c.total_steps = 10
  c.generator.update(name="research.gan_rings.model.MLPGenerator", output_shape=(8, 8, 1),
                     hidden=16, depth=1)
  c.discriminator.update(name="research.gan_rings.model.MLPDiscriminator", hidden=16, depth=1)
  c.gan.z_dim = 4
  c.gan.update(gan_keys)
  c.data.batch_size = 8
  return c


def _mlp_batch(seed=0):
  x = np.random.default_rng(seed).uniform(-1, 1, (8, 8, 8, 1))
  return {"image": jnp.asarray(x, jnp.float32), "label": jnp.zeros((8,), jnp.int32)}


def test_lecam_anchors_start_from_the_batch_means_and_the_penalty_after_lecam_start():
  c = _mlp_config(lecam_weight=0.5, lecam_start=2, lecam_decay=0.9)
  state = gan.init(c, jax.random.key(0), _mlp_batch())
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  prev = None
  for t in range(4):                                   # itr = t + 1
    state, m = step(state, _mlp_batch(t), jax.random.key(t))
    a_r = float(state.stats["lecam_real"])
    d = 0.0 if t + 1 < 2 else 0.9                      # ema_losses.update: decay 0 before start
    want = m["d_real"] if prev is None else d * prev + (1 - d) * float(m["d_real"])
    np.testing.assert_allclose(a_r, float(want), rtol=1e-5, atol=1e-7)
    assert (float(m["lecam"]) > 0) == (t + 1 > 2)      # penalty once itr > start
    prev = a_r


# --- 4. orthogonal regularization at BigGAN-PyTorch's scale -----------------------------------

def test_orthogonal_gradient_is_biggan_pytorch_ortho():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(3, 3, 4, 5)).astype(np.float32)                # flax conv [kh, kw, in, out]
  beta = 1e-4
  grad = jax.grad(lambda p: beta * R.orthogonal_penalty(p))({"conv": {"kernel": jnp.asarray(w)}})
  # utils.ortho: w = param.view(out, -1); grad = 2 * (w w^T * (1 - I)) w, times strength
  m = w.reshape(-1, 5).T.astype(np.float64)
  ref = beta * 2 * ((m @ m.T) * (1 - np.eye(5))) @ m
  np.testing.assert_allclose(np.asarray(grad["conv"]["kernel"]), ref.T.reshape(w.shape),
                             rtol=1e-4, atol=1e-10)


# --- 6. DiffAugment: policies applied in the order written, configs in the official order ----

def test_diffaugment_applies_the_policy_in_the_order_written():
  x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 3), minval=-1, maxval=1)
  k = jax.random.key(1)
  keys = jax.random.split(k, 8)
  color_then_shift = A._translation(A.diffaugment(x, k, "color"), keys[3])
  np.testing.assert_allclose(np.asarray(A.diffaugment(x, k, "color,translation")),
                             np.asarray(color_then_shift), atol=1e-6)
  shifted = A._translation(x, keys[0])
  assert float(jnp.abs(A.diffaugment(x, k, "translation,color")
                       - A.diffaugment(x, k, "color,translation")).max()) > 1e-3
  assert shifted.shape == x.shape


def test_configs_use_the_official_diffaugment_order():
  from pathlib import Path
  seen = 0
  for path in sorted(Path("configs").glob("*.py")):
    if path.name.startswith("_"):
      continue
    src = path.read_text()
    if "diffaugment" not in src:
      continue
    c = importlib.import_module(f"configs.{path.stem}").get_config(None)
    if c.get("gan") is None or c.gan.augment != "diffaugment":
      continue
    ops = [o for o in (c.gan.augment_policy or "color,translation,cutout").split(",") if o]
    order = ["color", "translation", "cutout"]
    assert ops == [o for o in order if o in ops], (path.name, c.gan.augment_policy)
    seen += 1
  assert seen >= 1                                      # vitgan


# --- 7. SAGAN: where D attends ----------------------------------------------------------------

def test_sagan_attention_can_take_the_authors_placement():
  """The docstring's claims: 32px default after D's first block; at 128px with
  attention_resolution 32, after the second block (brain-research discriminator_test)."""
  from research.sagan.model import Discriminator
  y = jnp.zeros((1,), jnp.int32)
  d = Discriminator(width=8, multipliers=(1, 2, 4, 8, 16, 16), attention_resolution=32)
  v = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1, 128, 128, 3)), y))
  att = [p for p in _paths(v["params"]) if "attention" in p]
  assert att and all(p.startswith("trunk/attention1/") for p in att)   # after block 2 of 6
  d = Discriminator(width=8, multipliers=(1, 1, 1, 1))
  v = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)), y))
  assert all(p.startswith("trunk/attention0/") for p in _paths(v["params"]) if "attention" in p)


# --- 8. lazy regularization as a separate step, Adam rescaled by k / (k + 1) ------------------

def test_lazy_optimizer_hyperparameters_are_the_official_closed_form():
  c = importlib.import_module("configs.stylegan2").get_config("cifar10")
  assert c.gan.lazy_reg_separate and importlib.import_module(
      "configs.styleswin").get_config("cifar10").gan.lazy_reg_separate
  assert gan.lazy_intervals(c) == (4, 16)
  for opt, k in ((c.optimizer_g, 4), (c.optimizer_d, 16)):
    o = gan.lazy_optimizer_config(opt, k)
    r = k / (k + 1)
    assert math.isclose(o.learning_rate, 0.0025 * r) and o.b1 == 0.0
    assert math.isclose(o.b2, 0.99 ** r)
  # the optimizer the task builds is Adam with those values (b1 = 0.5 so that it matters)
  c.optimizer_d.b1 = 0.5
  _, tx_d = gan.optimizers_of(c)
  r = 16 / 17
  ref_c = c.optimizer_d.copy_and_resolve_references()
  ref_c.update(learning_rate=0.0025 * r, b1=0.5 ** r, b2=0.99 ** r, lr_multipliers=())
  ref = make_optimizer(ref_c, 1)
  p = {"w": jnp.asarray([0.3, -1.2, 2.0])}
  gs = [{"w": jnp.asarray([0.5, 0.1, -2.0])}, {"w": jnp.asarray([-1.0, 0.3, 0.7])}]
  s, s_ref, q, q_ref = tx_d.init(p), ref.init(p), p, p
  for g_ in gs:
    u, s = tx_d.update(g_, s, q)
    u_ref, s_ref = ref.update(g_, s_ref, q_ref)
    q, q_ref = jax.tree.map(jnp.add, q, u), jax.tree.map(jnp.add, q_ref, u_ref)
  np.testing.assert_allclose(np.asarray(q["w"]), np.asarray(q_ref["w"]), rtol=1e-6)
  c.optimizer_d.b1 = 0.0
  c.gan.lazy_reg_separate = False                  # summed into the main loss: no rescaling
  assert gan.lazy_intervals(c) == (1, 1)
  c.gan.update(lazy_reg_separate=True, r2_gamma=1.0, r2_every=8)
  with pytest.raises(ValueError, match="r2_every"):
    gan.lazy_intervals(c)


def _adam_count(opt_state):
  return [int(x.count) for x in jax.tree.leaves(
      opt_state, is_leaf=lambda t: hasattr(t, "count") and hasattr(t, "mu"))
      if hasattr(x, "count")][0]


def test_lazy_r1_runs_as_its_own_optimizer_step():
  c = _mlp_config(r1_gamma=1.0, r1_every=2, lazy_reg_separate=True)
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  state = gan.init(c, jax.random.key(0), _mlp_batch())
  counts = []
  for t in range(3):
    state, m = step(state, _mlp_batch(t), jax.random.key(t))
    counts.append(_adam_count(state.opt_state["D"]))
    assert (float(m["r1"]) > 0) == (t % 2 == 0)
  assert counts == [2, 3, 5]                           # Dmain + Dreg on due steps
  assert _adam_count(state.opt_state["G"]) == 3
  # the summed form (old behaviour) keeps one Adam step per D step
  c2 = _mlp_config(r1_gamma=1.0, r1_every=2)
  s2 = gan.init(c2, jax.random.key(0), _mlp_batch())
  s2, _ = jax.jit(lambda s, b, r: gan.train_step(c2, s, b, r))(s2, _mlp_batch(0),
                                                             jax.random.key(0))
  assert _adam_count(s2.opt_state["D"]) == 1


def test_lazy_path_length_runs_as_its_own_generator_step():
  c = gan_config()
  c.total_steps = 10
  c.generator.update(name="research.stylegan2.model.Generator", image_size=8, channels=1,
                     width=4, w_dim=4, mapping_layers=1)
  c.discriminator.update(name="research.gan_rings.model.MLPDiscriminator", hidden=16, depth=1)
  c.gan.update(z_dim=4, pl_weight=2.0, pl_every=2, lazy_reg_separate=True)
  c.data.batch_size = 8
  step = jax.jit(lambda s, b, r: gan.train_step(c, s, b, r))
  state = gan.init(c, jax.random.key(0), _mlp_batch())
  counts = []
  for t in range(2):
    state, m = step(state, _mlp_batch(t), jax.random.key(t))
    counts.append(_adam_count(state.opt_state["G"]))
    assert (float(m["pl"]) > 0) == (t % 2 == 0)
  assert counts == [2, 3]
  assert float(state.stats["pl_mean"]) > 0
